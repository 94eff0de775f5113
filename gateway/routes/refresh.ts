/**
 * POST /api/bundles/{u}/refresh  body {force_refresh?, callback_url?} (may be empty)
 * → 202 {status:"processing", job_id, status_url, events_url}; a second
 * request for the same user while a refresh is in flight gets the same job.
 * Order of checks: API key (401) → username (400) → body (415/413/400) →
 * client rate (429, in the same Lua script that takes the lock and enqueues). Never calls GitHub: it only enqueues.
 */
import type { Context } from "hono";
import type { AppContext, RouteApp } from "../app.ts";
import { type RefreshAccepted, RefreshBody } from "../../shared/schemas/api.ts";
import { inSpan, SpanKind } from "../../shared/telemetry.ts";
import {
  clientIp,
  HttpError,
  parseJsonBody,
  requireApiKey,
  requireUsername,
  safeClientId,
  sha256Hex,
} from "../http.ts";

export function jobUrls(username: string, jobId: string) {
  const u = encodeURIComponent(username);
  const j = encodeURIComponent(jobId);
  return {
    status_url: `/api/bundles/${u}/status?job_id=${j}`,
    events_url: `/api/bundles/${u}/events?job_id=${j}`,
  };
}

export function refreshRoutes(app: RouteApp, ctx: AppContext) {
  const limit = ctx.config.RATE_LIMIT_PER_MIN;
  // Hashing the key once per distinct key keeps it out of Redis and off the hot path.
  const keyIds = new Map<string, string>();

  // Synchronous unless a key is seen for the first time (no await on the hot path).
  function clientId(c: Context, key: string | null): string | Promise<string> {
    if (key) {
      const id = keyIds.get(key);
      if (id) return id;
      return sha256Hex(key).then((hex) => {
        const fresh = "key:" + hex.slice(0, 24);
        keyIds.set(key, fresh);
        return fresh;
      });
    }
    return "ip:" + safeClientId(clientIp(c, ctx.trustedProxyHops));
  }

  app.post("/api/bundles/:username/refresh", async (c) => {
    const key = requireApiKey(c, ctx.keys);
    const username = requireUsername(c.req.param("username"));
    const body = await parseJsonBody(c, RefreshBody, { optional: true });
    // The rate limit is checked inside the same Lua script that takes the
    // lock and enqueues (its peek step: one small round trip for a request
    // that joins a refresh in flight, a second one to create a job).
    const client = clientId(c, key);
    // The refresh's trace starts here: the plan message carries this span's context.
    const res = await inSpan(
      "POST /api/bundles/{username}/refresh",
      { kind: SpanKind.SERVER, attributes: { "http.route": "/api/bundles/{username}/refresh" } },
      async (span) => {
        const r = await ctx.jobs.requestRefresh(
          { username, force_refresh: body.force_refresh, callback_url: body.callback_url },
          { client: typeof client === "string" ? client : await client, limit, windowMs: ctx.rateWindowMs },
        );
        if (!r.limited) span?.setAttribute("foliosync.job_id", r.jobId);
        return r;
      },
    );
    if (res.limited) {
      ctx.metrics.rateLimited();
      throw new HttpError(429, "rate_limited", `more than ${limit} refresh requests per minute; retry later`, {
        "retry-after": String(res.limited.retryAfterS),
      });
    }
    const urls = jobUrls(username, res.jobId);
    const out: RefreshAccepted = { status: "processing", job_id: res.jobId, ...urls };
    // A plain Response (what c.header + c.json build, without Hono's Headers merging).
    return new Response(JSON.stringify(out), {
      status: 202,
      headers: { location: urls.status_url, "content-type": "application/json" },
    });
  });
}
