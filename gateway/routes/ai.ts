/**
 * POST /api/ai  body {query, username, limit?} → 200 AiResponse;
 * 400 bad body (empty or >500-char query, bad username, unknown field, bad JSON),
 * 413 over 64 KiB, 415 not JSON, 404 when the user has no bundle yet,
 * 429 (+ Retry-After) over AI_RATE_LIMIT_PER_MIN per client: each answer
 * costs CPU and may call a paid LLM.
 * A read: public unless READ_ACCESS=key (then an in-scope key, auth.ts) —
 * portfolio websites call it from browsers.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { AiBody } from "../../shared/schemas/api.ts";
import { HttpError, parseJsonBody } from "../http.ts";
import { RateLimiter } from "../rate-limit.ts";

export function aiRoutes(app: RouteApp, ctx: AppContext) {
  const limiter = new RateLimiter(ctx.redis, ctx.config.QUEUE_PREFIX, "ai", ctx.config.AI_RATE_LIMIT_PER_MIN);
  app.handle("ai", async (c) => {
    const body = await parseJsonBody(c, AiBody);
    const client = ctx.auth.client(c, body.username);
    await limiter.hit(client.id, "/api/ai").catch((err) => {
      if (err instanceof HttpError) ctx.metrics.rateLimited();
      throw err;
    });
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
