import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { type Config, loadConfig } from "../../shared/config.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import { FINAL_STATES, type JobRecord, type JobState } from "../../shared/schemas/job.ts";
import { createContext, type WorkerContext } from "../../workers/context.ts";
import { createLogger, type Logger } from "../../workers/log.ts";
import { type Role, ROLES, type RunningRoles, startRoles } from "../../workers/roles.ts";
import { type FixtureServer, startFixtureServer } from "./fixture-server.ts";
import { type RedisServer, startRedis } from "./redis.ts";

export interface Stack {
  redis: RedisServer;
  github: FixtureServer;
  storageDir: string;
  env: Record<string, string>;
  cfg: Config;
  ctx: WorkerContext;
  jobs: JobStore;
  workers?: RunningRoles;
  /** Starts (more) in-process worker roles. */
  startWorkers(roles?: readonly Role[], overrides?: Record<string, string>): Promise<RunningRoles>;
  /** Requests a refresh and waits for a final state (or `until`). */
  refresh(
    username: string,
    opts?: { force_refresh?: boolean; until?: JobState[]; timeoutMs?: number; only_repos?: string[] },
  ): Promise<JobRecord>;
  waitFor(jobId: string, states: Iterable<JobState>, timeoutMs?: number): Promise<JobRecord>;
  stop(): Promise<void>;
}

/** A real Redis, the GitHub fixture server and a temp storage dir; workers in this process. */
export async function startStack(
  opts: { fixture?: Parameters<typeof startFixtureServer>[0]; env?: Record<string, string> } = {},
): Promise<Stack> {
  const redis = await startRedis();
  const github = await startFixtureServer(opts.fixture);
  const storageDir = mkdtempSync(join(tmpdir(), "foliosync-store-"));
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    GITHUB_API_URL: github.url,
    STORAGE_BACKEND: "local",
    STORAGE_DIR: storageDir,
    LOG_LEVEL: "error",
    JOB_RETRIES: "5",
    ...opts.env,
  };
  const cfg = loadConfig(env);
  const ctx = await createContext(cfg, { redis: redis.client(), log: createLogger("silent") });
  const running: RunningRoles[] = [];
  const stack: Stack = {
    redis,
    github,
    storageDir,
    env,
    cfg,
    ctx,
    jobs: ctx.jobs,
    async startWorkers(roles = ROLES, overrides = {}) {
      const c = Object.keys(overrides).length
        ? await createContext(loadConfig({ ...env, ...overrides }), {
          redis: redis.client(),
          store: ctx.store,
          log: ctx.log,
        })
        : ctx;
      const r = startRoles(c, roles);
      running.push(r);
      stack.workers ??= r;
      return r;
    },
    async refresh(username, o = {}) {
      const { job } = await ctx.jobs.requestRefresh({
        username,
        force_refresh: o.force_refresh,
        only_repos: o.only_repos,
      });
      return stack.waitFor(job.job_id, o.until ?? FINAL_STATES, o.timeoutMs);
    },
    async waitFor(jobId, states, timeoutMs = 60_000) {
      const want = new Set(states);
      const deadline = Date.now() + timeoutMs;
      let last: JobRecord | null = null;
      while (Date.now() < deadline) {
        last = await ctx.jobs.get(jobId);
        if (last && want.has(last.state)) return last;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(
        `job ${jobId} did not reach ${[...want].join("|")} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
      );
    },
    async stop() {
      await Promise.all(running.map((r) => r.stop(2000)));
      ctx.redis.disconnect();
      await github.stop();
      await redis.stop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** How many merges of the job completed (counted by complete-merge). */
export async function mergesOf(s: Stack, jobId: string): Promise<number> {
  return Number(await s.ctx.redis.get(s.jobs.keys.counter(`merge:${jobId}`)));
}

/** The user's current bundle (it must exist). */
export async function bundleOf(s: Stack, user: string): Promise<Bundle> {
  return (await readCurrentBundle(s.ctx.store, user))!.bundle;
}

/** A bundle as bytes, without the times it was made: two paths' bundles compare with it. */
export function comparable(b: Bundle): string {
  return JSON.stringify({ ...b, generated_at: "", repos: b.repos.map((r) => ({ ...r, synced_at: "" })) });
}

/** A logger that keeps warnings and errors in `lines`, for assertions on what the workers said. */
export function capturingLogger(lines: string[]): Logger {
  return { debug() {}, info() {}, warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
}
