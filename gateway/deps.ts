/**
 * Builds the gateway's production dependencies from the validated config:
 * one ioredis connection (commands + Lua, auto-pipelined), one shared
 * subscriber for event streams (JobEventsHub), the JobStore, the blob
 * store from STORAGE_*, the AI service on that store, and metrics that watch
 * every job's changes on one pub/sub connection.
 */
import process from "node:process";
import { Redis } from "ioredis";
import type { Config } from "../shared/config.ts";
import { JobStore, jobStoreOptions } from "../shared/jobs/job-store.ts";
import { createAiService } from "../shared/ranking/ai-service.ts";
import { loadInstalledSentenceEncoder } from "../shared/ranking/sentence-encoder.ts";
import { createStore } from "../shared/storage/index.ts";
import type { GatewayDeps } from "./context.ts";
import { JobEventsHub } from "./job-events-hub.ts";
import { startJobFeed } from "./job-feed.ts";
import { createMetrics } from "./metrics.ts";

export interface GatewayRuntime {
  deps: GatewayDeps;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Proxy hops whose X-Forwarded-For is trusted (env TRUSTED_PROXY_HOPS). */
  trustedProxyHops?: number;
  /** Subscribe to every job's changes: job metrics, prompt bundle-pointer invalidation (default true). */
  watchJobs?: boolean;
}

export async function createGatewayDeps(config: Config, opts: RuntimeOptions = {}): Promise<GatewayRuntime> {
  const redis = new Redis(config.REDIS_URL, {
    maxRetriesPerRequest: 2,
    enableAutoPipelining: process.env.GATEWAY_REDIS_AUTOPIPELINE !== "0",
    connectTimeout: 5_000,
  });
  // Connection errors surface as failed requests (5xx JSON) and /api/ready 503; do not crash.
  redis.on("error", () => {});
  const jobs = new JobStore(redis, jobStoreOptions(config));
  const store = await createStore(config);
  const ai = createAiService({
    store,
    llm: config.LLM_API_URL ? { url: config.LLM_API_URL, apiKey: config.LLM_API_KEY } : null,
    // Question vectors for models trained with sentence vectors: TF.js is loaded on the first such question.
    queryEncoder: () =>
      loadInstalledSentenceEncoder({ forced: config.TFJS_BACKEND, log: (m) => console.error(`[gateway] ${m}`) }),
    log: (m) => console.error(`[gateway] ai: ${m}`),
  });
  const metrics = createMetrics(jobs);
  const feed = opts.watchJobs === false ? undefined : await startJobFeed(redis, jobs).catch(() => undefined);
  const hub = new JobEventsHub(redis, jobs);
  return {
    deps: {
      config,
      redis,
      jobs,
      store,
      ai,
      metrics,
      feed,
      subscribe: hub.subscribe,
      jobCacheMs: config.JOB_CACHE_MS,
      trustedProxyHops: opts.trustedProxyHops ?? 0,
    },
    async close() {
      await feed?.stop().catch(() => {});
      hub.close();
      await store.close?.().catch(() => {});
      redis.disconnect();
    },
  };
}
