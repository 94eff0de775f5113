/**
 * POST /api/ai  body {query, username, limit?} → 200 AiResponse;
 * 400 bad body (empty or >500-char query, bad username, unknown field, bad JSON),
 * 413 over 64 KiB, 415 not JSON, 404 when the user has no bundle yet.
 * Not behind API keys: it is a read (like GET /api/bundles/{u}), it changes nothing.
 */
import type { AppContext, RouteApp } from "../app.ts";
import { AiBody } from "../../shared/schemas/api.ts";
import { HttpError, parseJsonBody } from "../http.ts";

export function aiRoutes(app: RouteApp, ctx: AppContext) {
  app.post("/api/ai", async (c) => {
    const body = await parseJsonBody(c, AiBody);
    const answer = await ctx.ai.answer(body);
    if (!answer) {
      throw new HttpError(
        404,
        "bundle_not_found",
        `no bundle for ${body.username} yet: POST /api/bundles/${body.username}/refresh`,
      );
    }
    return c.json(answer);
  });
}
