/**
 * What every route module receives: the gateway's dependencies after
 * defaults (AppContext) and the registry it hands its handlers to (RouteApp),
 * one per operation of operations.ts. Kept apart from app.ts so that routes
 * and the app do not import each other.
 */
import type { Context, Hono } from "hono";
import type { Redis } from "ioredis";
import type { Config } from "../shared/config.ts";
import type { JobStore } from "../shared/jobs/job-store.ts";
import type { AiBody, AiResponse } from "../shared/schemas/api.ts";
import type { JobRecord } from "../shared/schemas/job.ts";
import type { BlobStore } from "../shared/storage/types.ts";
import { type AuthEnv, Authorizer } from "./auth.ts";
import { JobCache } from "./job-cache.ts";
import type { JobFeed } from "./job-feed.ts";
import { createMetrics, type GatewayMetrics } from "./metrics.ts";
import type { OperationId } from "./operations.ts";
import { PointerCache } from "./pointer-cache.ts";

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
  /** Who may call what (API keys, READ_ACCESS): auth.ts. */
  auth: Authorizer;
  pointers: PointerCache;
  jobCache: JobCache;
  logError: (err: unknown, where: string) => void;
}

export type GatewayEnv = AuthEnv;
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
    // With a feed, cached only while the feed sees invalidations; without one, bounded by the TTL alone.
    pointers: new PointerCache(deps.store, deps.pointerCacheMs ?? 1000, 10_000, () => deps.feed?.live ?? true),
    // Only a feed tells of changes: without one every poll reads (undefined: JobCache's default).
    jobCache: new JobCache((jobId) => deps.jobs.get(jobId), {
      ttlMs: deps.feed ? deps.jobCacheMs : 0,
      live: () => deps.feed?.live ?? false,
    }),
    auth: new Authorizer(deps.config, deps.redis, deps.trustedProxyHops ?? 0),
    logError: deps.logError ?? ((err, where) => console.error(`[gateway] ${where}:`, err)),
  };
}

/**
 * What a route module hands its handlers to: one per operation of
 * operations.ts, by its id. There is no other way to add a route: its path,
 * method, access gate and body limit come from the operation's entry
 * (app.ts registerOperations).
 */
export interface RouteApp {
  handle(operation: OperationId, handler: RouteHandler): void;
}
export type RouteHandler = (c: Context<GatewayEnv>) => Response | Promise<Response>;
