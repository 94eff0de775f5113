import { Redis } from "ioredis";
import { type Config, githubTokens } from "../shared/config.ts";
import { JobStore, jobStoreOptions } from "../shared/jobs/job-store.ts";
import { createStore } from "../shared/storage/index.ts";
import type { BlobStore } from "../shared/storage/types.ts";
import { GithubClient } from "./github/github-client.ts";
import { createLogger, type Logger } from "./log.ts";
import { instrumentStore, WorkerMetrics } from "./metrics.ts";
import { tracedStore, traceOctokit } from "../shared/telemetry.ts";

/** What every role needs: built once per process. */
export interface WorkerContext {
  cfg: Config;
  redis: Redis;
  jobs: JobStore;
  store: BlobStore;
  github: GithubClient;
  log: Logger;
  metrics: WorkerMetrics;
}

export async function createContext(cfg: Config, overrides: Partial<WorkerContext> = {}): Promise<WorkerContext> {
  const redis = overrides.redis ?? new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const log = overrides.log ?? createLogger(cfg.LOG_LEVEL);
  const jobs = overrides.jobs ??
    new JobStore(redis, jobStoreOptions(cfg));
  const metrics = overrides.metrics ?? new WorkerMetrics();
  const store = overrides.store ?? tracedStore(instrumentStore(await createStore(cfg), metrics));
  const github = overrides.github ??
    new GithubClient({
      baseUrl: cfg.GITHUB_API_URL,
      tokens: githubTokens(cfg),
      quotaKey: `${cfg.QUEUE_PREFIX}:github:quota`,
      maxInFlight: cfg.GITHUB_MAX_INFLIGHT,
      secondaryWaitMs: cfg.GITHUB_SECONDARY_WAIT_MS,
      redis,
      pauseKey: `${cfg.QUEUE_PREFIX}:github:paused-until`,
      log: (m) => log.warn(m),
      onResponse: (route, status, remaining) => metrics.githubResponse(route, status, remaining),
    });
  if (!overrides.github) traceOctokit(github.octokit);
  return { cfg, redis, jobs, store, github, log, metrics };
}
