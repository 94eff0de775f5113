/**
 * Fault-injection helpers: a redis-server that can be SIGKILLed and restarted
 * on the same port and data dir (with or without AOF), worker processes that
 * can be killed and restarted, and the end-state checks every scenario makes.
 * `RELIABILITY_FULL=1` (npm run test:reliability) selects the long variants.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { FINAL_STATES, type JobRecord } from "../../shared/schemas/job.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { freePort, waitForPort } from "../../scripts/lib/free-port.ts";
import { type FixtureServer, type FixtureServerOptions, startFixtureServer } from "../support/fixture-server.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { type Managed, startProcess, waitForOutput } from "../support/process.ts";

// deno-lint-ignore no-explicit-any -- runtime-neutral env read (Bun's process, Deno's Deno)
const g = globalThis as any;
const envOf = (): Record<string, string> => g.Deno?.env?.toObject?.() ?? g.process?.env ?? {};
/** The long variants (npm run test:reliability); the short ones run in npm test. */
export const FULL = envOf().RELIABILITY_FULL === "1";
/** The soak (RELIABILITY_SOAK=1): the storm scenario repeated for minutes. */
export const SOAK = envOf().RELIABILITY_SOAK === "1";

/**
 * The two ways the workers reach GitHub: GraphQL (a token set, production's
 * path) and REST (`GITHUB_API=rest`, no token). The full suite runs every
 * scenario on both; npm test runs each scenario on the one it names, the
 * scenarios alternating, to keep CI short.
 */
export type ApiPath = "graphql" | "rest";
export const API_PATHS: readonly ApiPath[] = ["graphql", "rest"];
/** The scenario's paths: both under RELIABILITY_FULL, else `fast`. */
export const pathsFor = (fast: ApiPath): readonly ApiPath[] => FULL ? API_PATHS : [fast];
/** The workers' environment for a path (it wins over the parent's: a developer's own token never leaks in). */
export function apiEnv(path: ApiPath): Record<string, string> {
  return path === "graphql"
    ? { GITHUB_API: "auto", GITHUB_TOKEN: "reliability-token" }
    : { GITHUB_API: "rest", GITHUB_TOKEN: "" };
}
/** The path taken shows at the fixture server: GraphQL requests on one, none on the other. */
export function expectPathTaken(path: ApiPath, stats: { graphql: number }): void {
  if (path === "graphql" ? stats.graphql === 0 : stats.graphql !== 0) {
    throw new Error(`expected the ${path} path; the fixture server saw ${stats.graphql} GraphQL requests`);
  }
}

export interface KillableRedis {
  port: number;
  url: string;
  dir: string;
  aof: boolean;
  /** SIGKILL: no shutdown save, no AOF rewrite; only what was already written survives. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (AOF replayed when on). */
  start(): Promise<void>;
  client(): Redis;
  stop(): Promise<void>;
}

/** A redis-server as production runs it (AOF, appendfsync everysec) or without persistence. */
export async function startKillableRedis(opts: { aof: boolean }): Promise<KillableRedis> {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-redis-fault-"));
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
    ...(opts.aof ? ["--appendonly", "yes", "--appendfsync", "everysec"] : ["--appendonly", "no"]),
  ];
  let proc: Managed | null = null;
  const clients: Redis[] = [];
  const start = async () => {
    proc = startProcess("redis-server", args);
    await waitForPort(port, 10_000);
    // The port answers before an AOF is loaded: wait until Redis serves commands.
    const c = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null });
    try {
      for (let i = 0; i < 200; i++) {
        try {
          await c.ping();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      c.disconnect();
    }
  };
  await start();
  return {
    port,
    dir,
    aof: opts.aof,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      proc?.kill("SIGKILL");
      await proc?.exited;
    },
    start,
    client() {
      const c = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null });
      c.on("error", () => {});
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await proc?.stop(2000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A worker process (`bun workers/main.ts --role …`) that can be SIGKILLed and restarted. */
export interface WorkerProc {
  roles: string;
  proc: Managed;
  /** Every start so far, for failure messages. */
  starts: number;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export function workerProcess(roles: string, env: Record<string, string>): WorkerProc {
  const w: WorkerProc = {
    roles,
    proc: undefined as unknown as Managed,
    starts: 0,
    async start() {
      w.starts++;
      w.proc = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", roles], {
        cwd: repoRoot,
        env: { ...envOf(), ...env, WORKER_METRICS_PORT: "0", LOG_LEVEL: env.LOG_LEVEL ?? "warn" },
      });
      await waitForOutput(w.proc, /worker ready/, 60_000);
    },
    async kill() {
      w.proc?.kill("SIGKILL");
      await w.proc?.exited;
    },
    async stop() {
      await w.proc?.stop(2000);
    },
  };
  return w;
}

/**
 * A scenario's GitHub fixture server and temp storage dir, both undone by `cleanup` (last in, first out), and the
 * workers' environment naming them and `redisUrl`, with local storage; the scenario adds its own settings.
 */
export async function scenarioWorld(
  cleanup: (() => Promise<unknown>)[],
  redisUrl: string,
  opts: { name: string; fixture?: FixtureServerOptions },
): Promise<{ github: FixtureServer; storageDir: string; env: Record<string, string> }> {
  const github = await startFixtureServer(opts.fixture);
  cleanup.push(() => github.stop());
  const storageDir = mkdtempSync(join(tmpdir(), `foliosync-${opts.name}-`));
  cleanup.push(() => Promise.resolve(rmSync(storageDir, { recursive: true, force: true })));
  return {
    github,
    storageDir,
    env: { REDIS_URL: redisUrl, GITHUB_API_URL: github.url, STORAGE_BACKEND: "local", STORAGE_DIR: storageDir },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every job is final (or gone, when Redis lost it); returns the records (null: lost with Redis). */
export async function waitAllFinal(
  jobs: JobStore,
  ids: string[],
  timeoutMs: number,
): Promise<Map<string, JobRecord | null>> {
  const deadline = Date.now() + timeoutMs;
  const out = new Map<string, JobRecord | null>();
  for (;;) {
    for (const id of ids) out.set(id, await jobs.get(id).catch(() => undefined) ?? null);
    const open = [...out.values()].filter((j) => j !== null && !FINAL_STATES.has(j.state));
    if (open.length === 0) return out;
    if (Date.now() > deadline) {
      throw new Error(
        `jobs still in flight after ${timeoutMs} ms: ${
          JSON.stringify(open.map((j) => [j!.job_id, j!.state, j!.progress]))
        }`,
      );
    }
    await sleep(200);
  }
}

/**
 * The end state every scenario asserts: each job completed or failed with a
 * reason and its `error_code`; no job merged more than once, a completed one exactly once, and its
 * user's current bundle is complete (`expectRepos`); nothing left in flight;
 * every DLQ entry explained by `explain` (returns false for an entry it
 * cannot explain).
 */
export async function assertNothingLost(
  t: {
    jobs: JobStore;
    store: BlobStore;
    results: Map<string, JobRecord | null>;
    expectRepos: (username: string) => number;
    explainDlq?: (entry: { queue: string; error: string; job_id?: string }) => boolean;
    /** Redis lost its data (no persistence): jobs may be gone. */
    redisLost?: boolean;
  },
): Promise<{
  completed: number;
  failed: number;
  lost: number;
  dlq: number;
  /** `<error_code>: <error>` of each failed job. */
  reasons: string[];
  /** `<queue>: <error>` of each DLQ entry. */
  dlq_errors: string[];
}> {
  let completed = 0, failed = 0, lost = 0;
  const reasons: string[] = [];
  const problems: string[] = [];
  for (const [id, job] of t.results) {
    // Merges that took effect (counted in the step that moves the job to completed): never more than one,
    // whatever became of the job, even one whose record went with Redis.
    const merges = Number(await t.jobs.redis.get(t.jobs.keys.counter(`merge:${id}`)));
    if (merges > 1) problems.push(`${id}: ${merges} merges`);
    if (job === null) {
      if (t.redisLost) lost++;
      else problems.push(`${id}: job record missing`);
      continue;
    }
    if (job.state === "failed") {
      failed++;
      if (!job.error || !job.error_code) problems.push(`${id}: failed without a reason and its code`);
      else reasons.push(`${job.error_code}: ${job.error}`);
      if (merges !== 0) problems.push(`${id}: failed after ${merges} merges`);
      continue;
    }
    if (!FINAL_STATES.has(job.state)) {
      problems.push(`${id}: still ${job.state}`);
      continue;
    }
    if (job.state === "completed" || job.state.startsWith("train")) {
      if (merges !== 1) problems.push(`${id}: ${job.state} after ${merges} merges`);
    } else if (merges !== 0) problems.push(`${id}: ${job.state} after ${merges} merges`); // fresh: nothing to merge
    completed++;
    const current = await readCurrentBundle(t.store, job.username);
    const want = t.expectRepos(job.username);
    if (!current) problems.push(`${id}: ${job.username} has no bundle`);
    else if (current.bundle.repos.length !== want || current.pointer.repo_count !== want) {
      problems.push(`${id}: ${job.username} bundle has ${current.bundle.repos.length} repos, expected ${want}`);
    }
  }
  const inflight = await t.jobs.redis.zrange(t.jobs.keys.inflight(), "0", "-1");
  const stillWatched = [];
  for (const id of inflight) {
    const j = await t.jobs.get(id);
    if (j && !FINAL_STATES.has(j.state)) stillWatched.push(id);
  }
  if (stillWatched.length) problems.push(`still in flight: ${stillWatched.join(", ")}`);
  const dlq = await t.jobs.dlqList(1000);
  for (const e of dlq) {
    if (!t.explainDlq?.(e)) problems.push(`unexplained DLQ entry: ${e.queue} ${e.bee_job_id}: ${e.error}`);
  }
  if (problems.length) throw new Error(`nothing-lost check failed:\n  ${problems.join("\n  ")}`);
  return { completed, failed, lost, dlq: dlq.length, reasons, dlq_errors: dlq.map((e) => `${e.queue}: ${e.error}`) };
}

/**
 * Reads every user's bundle through the gateway (`GET /api/bundles/{u}`) in a
 * loop until stopped: each answer must be 200 with exactly the user's
 * repositories (the previous complete bundle or the new complete one, never
 * a partial one, never none). `failures` lists every other answer.
 */
export function watchServedBundles(
  gatewayUrl: string,
  expectRepos: Record<string, number>,
): { reads: () => number; failures: string[]; stop(): Promise<void> } {
  const failures: string[] = [];
  let reads = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        Object.entries(expectRepos).map(async ([u, want]) => {
          try {
            const res = await fetch(`${gatewayUrl}/api/bundles/${u}`, { signal: AbortSignal.timeout(10_000) });
            const text = await res.text();
            const n = res.status === 200 ? (JSON.parse(text) as { data: unknown[] }).data.length : -1;
            if (n !== want) {
              failures.push(`${u}: ${res.status} ${n === -1 ? text.slice(0, 200) : `${n} repos of ${want}`}`);
            }
          } catch (err) {
            failures.push(`${u}: ${(err as Error).message}`);
          }
          reads++;
        }),
      );
      await sleep(100);
    }
  })();
  return {
    reads: () => reads,
    failures,
    async stop() {
      running = false;
      await loop;
    },
  };
}
