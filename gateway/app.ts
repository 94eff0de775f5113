/**
 * The gateway's Hono app, built from its dependencies so that tests can run
 * it without a socket (`app.request(...)`) or behind `Deno.serve`.
 *
 *   const app = createApp({ config, redis, jobs, store, ai });
 *   Deno.serve((req, info) => app.fetch(req, { remoteAddr: info.remoteAddr }));
 *
 * Every answer that is not a success is `{error:{code, message}}`; nothing
 * internal (stack, Redis or storage messages) ever leaves.
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { InputError, InvalidNameError } from "../shared/errors.ts";
import { FINAL_STATES } from "../shared/schemas/job.ts";
import {
  type AppContext,
  type GatewayApp,
  type GatewayDeps,
  type GatewayEnv,
  resolveDeps,
  type RouteApp,
  type RouteHandler,
} from "./context.ts";
import { errorResponse, HttpError } from "./http.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { aiRoutes } from "./routes/ai.ts";
import { bundleRoutes } from "./routes/bundles.ts";
import { eventRoutes } from "./routes/events.ts";
import { opsRoutes } from "./routes/ops.ts";
import { refreshRoutes } from "./routes/refresh.ts";
import { statusRoutes } from "./routes/status.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { pageRoutes } from "./page/page.ts";

export type { AiService, AppContext, GatewayApp, GatewayDeps, GatewayEnv, RouteApp, RouteHandler } from "./context.ts";
export { resolveDeps } from "./context.ts";

/**
 * Registers each handler wrapped in its timing: the latency histogram gets
 * (method, route pattern, status) once the handler's Response exists (for an
 * event stream: when it starts); a thrown or rejected error is answered here
 * by `toResponse`, so its status is the one observed.
 */
export function timedRoutes(
  app: GatewayApp,
  metrics: GatewayMetrics,
  toResponse: (err: unknown, c: Context<GatewayEnv>) => Response,
): RouteApp {
  const wrap = (route: string, handler: RouteHandler) => (c: Context<GatewayEnv>) => {
    const t0 = performance.now();
    const done = (res: Response) => {
      metrics.observeRequest(c.req.method, route, res.status, (performance.now() - t0) / 1000);
      return res;
    };
    const fail = (err: unknown) => done(toResponse(err, c));
    try {
      const out = handler(c);
      return out instanceof Promise ? out.then(done, fail) : done(out);
    } catch (err) {
      return fail(err);
    }
  };
  return {
    get: (path, handler) => void app.get(path, wrap(path, handler)),
    post: (path, handler) => void app.post(path, wrap(path, handler)),
  };
}

/** The answer to an error: its own 4xx for input errors, otherwise a logged 500 without internals. */
function errorToResponse(err: unknown, c: Context<GatewayEnv>, ctx: AppContext): Response {
  if (err instanceof HttpError) return errorResponse(err);
  if (err instanceof InvalidNameError) return errorResponse(new HttpError(400, "invalid_name", "invalid name"));
  if (err instanceof InputError) {
    return errorResponse(new HttpError(400, "invalid_input", err.message.slice(0, 300)));
  }
  if (err instanceof HTTPException) {
    const status = err.status >= 400 && err.status < 500 ? err.status : 500;
    return errorResponse(
      new HttpError(
        status as 400,
        status === 500 ? "internal" : "bad_request",
        status === 500 ? "internal error" : "bad request",
      ),
    );
  }
  ctx.logError(err, `${c.req.method} ${c.req.path}`);
  return errorResponse(new HttpError(500, "internal", "internal error"));
}

export function createApp(deps: GatewayDeps): GatewayApp {
  const ctx = resolveDeps(deps);
  const app: GatewayApp = new Hono<GatewayEnv>();
  deps.feed?.on((job) => {
    ctx.metrics.observeJob(job);
    if (FINAL_STATES.has(job.state)) ctx.pointers.invalidate(job.username);
  });
  deps.feed?.onChange((jobId) => ctx.jobCache.drop(jobId));
  deps.feed?.onReset(() => ctx.jobCache.clear());

  // Every route is registered through `routes`, which times its handler into
  // the latency histogram under the route's pattern (never the raw path: a
  // bounded label set). No app-wide middleware: with one handler per route
  // Hono calls it directly, without composing a middleware chain per request.
  const toResponse = (err: unknown, c: Context<GatewayEnv>) => errorToResponse(err, c, ctx);
  const routes = timedRoutes(app, ctx.metrics, toResponse);

  refreshRoutes(routes, ctx);
  statusRoutes(routes, ctx);
  eventRoutes(routes, ctx);
  webhookRoutes(routes, ctx);
  aiRoutes(routes, ctx);
  opsRoutes(routes, ctx);
  // After status/events: `/api/bundles/{u}/{repo}` must not shadow them.
  bundleRoutes(routes, ctx);
  pageRoutes(routes, ctx);

  app.notFound((c) => {
    const api = c.req.path.startsWith("/api");
    const res = errorResponse(new HttpError(404, "not_found", api ? "no such API route" : "not found"));
    ctx.metrics.observeRequest(c.req.method, "unmatched", 404, 0); // no handler ran
    return res;
  });

  // Errors outside a route handler (the handlers' own are answered by `routes`).
  app.onError((err, c) => toResponse(err, c));

  return app;
}
