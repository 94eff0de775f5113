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
import type { Redis } from "ioredis";
import { apiKeys, type Config } from "../shared/config.ts";
import { InputError, InvalidNameError } from "../shared/errors.ts";
import type { JobStore } from "../shared/jobs/job-store.ts";
import type { AiBody, AiResponse } from "../shared/schemas/api.ts";
import type { BlobStore } from "../shared/storage/types.ts";
import { errorResponse, type GatewayBindings, HttpError } from "./http.ts";
import type { JobFeed } from "./job-feed.ts";
import { createMetrics, type GatewayMetrics } from "./metrics.ts";
import { JobCache } from "./job-cache.ts";
import { PointerCache } from "./pointer-cache.ts";
import { FINAL_STATES, type JobRecord } from "../shared/schemas/job.ts";
import { aiRoutes } from "./routes/ai.ts";
import { bundleRoutes } from "./routes/bundles.ts";
import { eventRoutes } from "./routes/events.ts";
import { opsRoutes } from "./routes/ops.ts";
import { refreshRoutes } from "./routes/refresh.ts";
import { statusRoutes } from "./routes/status.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { pageRoutes } from "./page/page.ts";

/** What /api/ai needs (shared/ranking/ai-service.ts createAiService). null = no bundle for the user. */
export interface AiService {
  answer(body: AiBody): Promise<AiResponse | null>;
}

export interface GatewayDeps {
  config: Config;
  /** Commands (status reads, readiness PING); the JobStore may share it. */
  redis: Redis;
  jobs: JobStore;
  store: BlobStore;
  ai: AiService;
  /** Created when absent. */
  metrics?: GatewayMetrics;
  /**
   * Follows one job's changes (resolves once subscribed). Default: JobStore.subscribe
   * (a Redis connection per stream); production passes JobEventsHub.subscribe (one shared).
   */
  subscribe?: (jobId: string, onJob: (job: JobRecord) => void) => Promise<() => Promise<void>>;
  /** Every job's changes (job-feed.ts): metrics and bundle-pointer invalidation. Optional. */
  feed?: JobFeed;
  /**
   * Longest a job record is kept for status polls between its changes
   * (job-cache.ts; default 5000 ms). Only with a `feed` (which tells of the
   * changes); without one, or 0, every poll reads Redis.
   */
  jobCacheMs?: number;
  /** How long a user's bundle pointer is cached (default 1000 ms; 0 = read storage every time). */
  pointerCacheMs?: number;
  /** Proxies in front of the gateway whose X-Forwarded-For is trusted (default 0: use the socket peer). */
  trustedProxyHops?: number;
  /** SSE heartbeat comment interval (default 15 s). */
  heartbeatMs?: number;
  /** Longest one event stream stays open (default 30 min); the client reconnects. */
  maxStreamMs?: number;
  /** Rate-limit window for refresh (default 60 s; RATE_LIMIT_PER_MIN per window). */
  rateWindowMs?: number;
  /** Timeout of each readiness probe (default 2 s). */
  readyTimeoutMs?: number;
  /** Where unexpected errors are reported (default console.error); never sent to clients. */
  logError?: (err: unknown, where: string) => void;
}

/** Deps after defaults: what every route module receives. */
export interface AppContext extends Required<Omit<GatewayDeps, "logError" | "feed" | "jobCacheMs">> {
  keys: string[];
  pointers: PointerCache;
  jobCache: JobCache;
  logError: (err: unknown, where: string) => void;
}

export type GatewayEnv = { Bindings: GatewayBindings };
export type GatewayApp = Hono<GatewayEnv>;

export function resolveDeps(deps: GatewayDeps): AppContext {
  return {
    ...deps,
    metrics: deps.metrics ?? createMetrics(deps.jobs),
    subscribe: deps.subscribe ?? ((jobId, onJob) => deps.jobs.subscribe(jobId, onJob)),
    trustedProxyHops: deps.trustedProxyHops ?? 0,
    heartbeatMs: deps.heartbeatMs ?? 15_000,
    maxStreamMs: deps.maxStreamMs ?? 30 * 60_000,
    rateWindowMs: deps.rateWindowMs ?? 60_000,
    readyTimeoutMs: deps.readyTimeoutMs ?? 2_000,
    pointerCacheMs: deps.pointerCacheMs ?? 1000,
    pointers: new PointerCache(deps.store, deps.pointerCacheMs ?? 1000),
    // Only a feed tells of changes: without one every poll reads (undefined: JobCache's default).
    jobCache: new JobCache((jobId) => deps.jobs.get(jobId), {
      ttlMs: deps.feed ? deps.jobCacheMs : 0,
      live: () => deps.feed?.live ?? false,
    }),
    keys: apiKeys(deps.config),
    logError: deps.logError ?? ((err, where) => console.error(`[gateway] ${where}:`, err)),
  };
}

/** What a route module registers its handlers on (see timedRoutes). */
export interface RouteApp {
  get(path: string, handler: RouteHandler): void;
  post(path: string, handler: RouteHandler): void;
}
export type RouteHandler = (c: Context<GatewayEnv>) => Response | Promise<Response>;

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
