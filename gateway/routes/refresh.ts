/**
 * POST /api/bundles/{u}/refresh  body {force_refresh?, callback_url?} (may be empty)
 * → 202 {status:"processing", job_id, status_url, events_url}; a second
 * request for the same user while a refresh is in flight gets the same job.
 * Order of checks: API key (401, the route's gate: auth.ts) → body size (413,
 * the route's bodyLimit) → username (400) → the key's scope (403) → body (415/400) → callback_url (400: scheme, userinfo, internal address
 * literal, no signing secret) → client rate (429, in the same Lua script that
 * takes the lock and enqueues) → the callback's registration on the job (429
 * when the job has the most receivers). Never calls GitHub: it only enqueues.
 */
import type { AppContext, RouteApp } from "../context.ts";
import { type RefreshAccepted, RefreshBody } from "../../shared/schemas/api.ts";
import { checkCallbackUrl, parseAllowHosts } from "../../shared/net/address-policy.ts";
import { MAX_RECEIVERS_PER_JOB } from "../../shared/webhooks/callbacks.ts";
import { HttpError, parseJsonBody, requireUsername } from "../http.ts";
import { inSpan, SpanKind } from "../../shared/telemetry.ts";

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
  const allowHosts = parseAllowHosts(ctx.config.CALLBACK_ALLOW_HOSTS);

  // The refresh's trace starts in this span: the plan message and the callback's notify
  // message carry its context (shared/telemetry.ts).
  app.handle("refresh", (c) =>
    inSpan("POST /api/bundles/{username}/refresh", {
      kind: SpanKind.SERVER,
      attributes: { "http.route": "/api/bundles/{username}/refresh" },
      expected: (err) => err instanceof HttpError && err.status < 500, // a 4xx is an answer
    }, async (span) => {
      const username = requireUsername(c.req.param("username"));
      const client = ctx.auth.client(c, username);
      const body = await parseJsonBody(c, RefreshBody, { optional: true });
      if (body.callback_url !== undefined) {
        if (!ctx.config.WEBHOOK_SIGNING_SECRET) {
          throw new HttpError(
            400,
            "callbacks_disabled",
            "callback_url is not accepted: this server has no WEBHOOK_SIGNING_SECRET to sign status webhooks with",
          );
        }
        const target = checkCallbackUrl(body.callback_url, allowHosts);
        if (!target.ok) throw new HttpError(400, "invalid_callback_url", target.reason);
      }
      // The rate limit is checked inside the same Lua script that takes the
      // lock and enqueues (its peek step: one small round trip for a request
      // that joins a refresh in flight, a second one to create a job).
      const res = await ctx.jobs.requestRefresh(
        { username, force_refresh: body.force_refresh },
        { client: client.id, limit, windowMs: ctx.rateWindowMs },
      );
      if (res.limited) {
        ctx.metrics.rateLimited();
        throw new HttpError(429, "rate_limited", `more than ${limit} refresh requests per minute; retry later`, {
          "retry-after": String(res.limited.retryAfterS),
        });
      }
      if (body.callback_url !== undefined) {
        const reg = await ctx.jobs.registerCallback(
          res.jobId,
          client.id,
          body.callback_url,
          res.created ? res.job : undefined,
        );
        if (reg === "full") {
          throw new HttpError(
            429,
            "too_many_callbacks",
            `job ${res.jobId} already has ${MAX_RECEIVERS_PER_JOB} callback receivers; follow it with status_url or events_url`,
            { "retry-after": "30" },
          );
        }
      }
      span?.setAttribute("foliosync.job_id", res.jobId);
      const urls = jobUrls(username, res.jobId);
      const out: RefreshAccepted = { status: "processing", job_id: res.jobId, ...urls };
      // A plain Response (what c.header + c.json build, without Hono's Headers merging).
      return new Response(JSON.stringify(out), {
        status: 202,
        headers: { location: urls.status_url, "content-type": "application/json" },
      });
    }));
}
