/**
 * A real worker process (`bun workers/main.ts`) against a real redis-server
 * and the GitHub fixture server: /health, /ready and /metrics over HTTP,
 * readiness that follows Redis, and metrics that move with real jobs.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { freePort, waitForPort } from "../support/free-port.ts";
import { bunBin, denoBin, repoRoot } from "../support/paths.ts";
import { type Stack, startStack } from "../support/pipeline.ts";
import { type Managed, startProcess, waitForOutput } from "../support/process.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { redisServerArgs, startRedis } from "../support/redis.ts";
import { createServer } from "node:net";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startWorker(roles: string, env: Record<string, string>): Managed {
  const w = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", roles], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
  });
  cleanups.push(() => w.stop(3000));
  return w;
}

async function get(port: number, path: string) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", text };
}

/**
 * /ready polled until it answers `status` (readiness is a polled signal: on a
 * loaded machine one PING may miss its deadline).
 */
async function pollReady(port: number, status: number, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let r = await get(port, "/ready").catch((err) => ({ status: 0, type: "", text: String(err) }));
  while (r.status !== status && Date.now() < deadline) {
    await Bun.sleep(100);
    r = await get(port, "/ready").catch((err) => ({ status: 0, type: "", text: String(err) }));
  }
  return r;
}

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test(
  "with Redis unreachable: alive, not ready, says what is missing, never 'worker ready'; ready once Redis comes",
  async () => {
    const redisPort = await freePort();
    const metricsPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "foliosync-health-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const w = startWorker("sync,merge", {
      REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${redisPort}`,
      WORKER_METRICS_PORT: String(metricsPort),
      STORAGE_BACKEND: "local",
      STORAGE_DIR: dir,
    });
    await waitForOutput(w, /waiting for Redis at .*attempt 2/, 20_000);
    await waitForPort(metricsPort, 10_000);

    const health = await get(metricsPort, "/health");
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: "ok", roles: ["sync", "merge"] });

    const ready = await get(metricsPort, "/ready");
    expect(ready.status).toBe(503);
    const body = JSON.parse(ready.text);
    expect(body.ready).toBe(false);
    expect(body.missing).toEqual(["redis", "queue:sync", "queue:merge"]);
    expect(body.checks.redis).toContain(`127.0.0.1:${redisPort}`);

    const out = w.output();
    expect(out).toContain("ECONNREFUSED");
    expect(out).not.toContain("worker ready");
    expect(out + ready.text).not.toContain("hunter2-secret");
    expect(w.child.exitCode).toBeNull(); // keeps retrying

    // Redis appears (with that password) on the port the worker waits for.
    const redis = startProcess("redis-server", redisServerArgs(redisPort, dir, ["--requirepass", "hunter2-secret"]));
    cleanups.push(() => redis.stop(2000));
    await waitForOutput(w, /worker ready: roles sync,merge/, 30_000);
    const after = await pollReady(metricsPort, 200);
    expect(after.status).toBe(200);
    expect(JSON.parse(after.text)).toMatchObject({
      ready: true,
      missing: [],
      checks: { redis: "ok", "queue:sync": "attached", "queue:merge": "attached" },
    });

    // Redis goes away again: not ready, process still alive.
    await redis.stop(2000);
    const r = await pollReady(metricsPort, 503);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).missing).toContain("redis");
    expect((await get(metricsPort, "/health")).status).toBe(200);
    expect(w.output()).not.toContain("hunter2-secret");
  },
  90_000,
);

test("a refresh through a real worker process moves its Prometheus metrics", async () => {
  const stack: Stack = await startStack();
  cleanups.push(() => stack.stop());
  const port = await freePort();
  const w = startWorker("plan,sync,merge,notify", { ...stack.env, WORKER_METRICS_PORT: String(port) });
  await waitForOutput(w, /worker ready/, 30_000);

  const before = await get(port, "/metrics");
  expect(before.status).toBe(200);
  expect(before.type).toContain("text/plain");
  expect(sample(before.text, "foliosync_worker_redis_up")).toBe(1);
  expect(sample(before.text, "foliosync_dlq_depth")).toBe(0);
  expect(Number.isNaN(sample(before.text, "foliosync_github_quota_remaining"))).toBe(true);

  const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
  expect(job.state).toBe("completed");
  // A malformed message goes to the dead-letter queue.
  const bad = JSON.stringify({ data: { nonsense: true }, options: { timestamp: Date.now() }, status: "created" });
  await stack.ctx.redis.hset(queueKey("fs", "notify", "jobs"), "bad-1", bad);
  await stack.ctx.redis.lpush(queueKey("fs", "notify", "waiting"), "bad-1");
  for (let i = 0; i < 100 && (await stack.ctx.redis.llen(stack.jobs.keys.dlq())) === 0; i++) await Bun.sleep(50);

  const m = (await get(port, "/metrics")).text;
  expect(sample(m, "foliosync_worker_job_duration_seconds_count", { role: "plan", outcome: "ok" })).toBe(1);
  expect(sample(m, "foliosync_worker_job_duration_seconds_count", { role: "sync", outcome: "ok" })).toBe(48);
  expect(sample(m, "foliosync_worker_job_duration_seconds_count", { role: "merge", outcome: "ok" })).toBe(1);
  expect(sample(m, "foliosync_worker_queue_wait_seconds_count", { role: "sync" })).toBe(48);
  expect(sample(m, "foliosync_worker_dead_letters_total", { role: "notify" })).toBe(1);
  expect(sample(m, "foliosync_dlq_depth")).toBe(1);
  expect(sample(m, "foliosync_queue_waiting", { queue: "sync" })).toBe(0);
  // The merge hands the bundle to training; nothing consumes `train` here.
  expect(sample(m, "foliosync_queue_waiting", { queue: "train" })).toBe(1);
  const quota = sample(m, "foliosync_github_quota_remaining")!;
  expect(quota).toBeGreaterThanOrEqual(0);
  expect(Number.isNaN(quota)).toBe(false);
  const listed = [...m.matchAll(/^foliosync_github_requests_total\{route="([^"]+)",status="(\d+)"\} (\d+)/gm)];
  expect(listed.length).toBeGreaterThan(0);
  const total = listed.reduce((n, x) => n + Number(x[3]), 0);
  expect(total).toBeGreaterThanOrEqual(48);
  expect(listed.every((x) => /^(GET|POST) \//.test(x[1]))).toBe(true);
  // Storage errors: none so far, and the series exist only once one happens.
  expect(sample(m, "foliosync_storage_errors_total")).toBeUndefined();

  expect(sample(m, "foliosync_worker_process_resident_memory_bytes")).toBeGreaterThan(0);
  const notFound = await get(port, "/nope");
  expect(notFound.status).toBe(404);
  // SIGTERM drains and exits 0.
  w.kill("SIGTERM");
  expect(await w.exited).toBe(0);
}, 120_000);

test("the Deno training worker serves the same endpoints and times each training by backend", async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), "foliosync-health-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const w = startProcess(denoBin, ["run", "-A", "workers/train/main.ts"], {
    cwd: repoRoot,
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      STORAGE_BACKEND: "local",
      STORAGE_DIR: dir,
      TFJS_BACKEND: "cpu",
      WORKER_METRICS_PORT: String(port),
      FOLIOSYNC_WORD_VECTORS: "off",
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir(),
    },
  });
  cleanups.push(() => w.stop(3000));
  await waitForOutput(w, /train worker ready \(backend cpu\)/, 90_000);
  const ready = await pollReady(port, 200);
  expect(ready.status).toBe(200);
  expect(JSON.parse(ready.text)).toMatchObject({ ready: true, checks: { redis: "ok", "queue:train": "attached" } });

  // A training whose bundle is gone fails (recorded, dead-lettered) without training anything.
  const jobs = new JobStore(redis.client(), { prefix: "fs" });
  const { job } = await jobs.requestRefresh({ username: "yungryce" });
  await jobs.setState(job.job_id, "yungryce", "completed", { message: "bundle published" });
  const msg = { job_id: job.job_id, username: "yungryce", content_fingerprint: "f".repeat(64), bundle_key: "gone" };
  await jobs.enqueue("train", "yungryce:missing", msg);
  let state = "";
  for (let i = 0; i < 200 && state !== "training_failed"; i++) {
    await Bun.sleep(100);
    state = (await jobs.get(job.job_id))?.state ?? "";
  }
  expect(state).toBe("training_failed");
  // The state is published inside the handler; the duration is observed once the handler returns.
  const count = (text: string) =>
    sample(text, "foliosync_training_duration_seconds_count", { backend: "cpu", state: "training_failed" });
  let m = (await get(port, "/metrics")).text;
  for (let i = 0; i < 100 && count(m) === undefined; i++) {
    await Bun.sleep(100);
    m = (await get(port, "/metrics")).text;
  }
  expect(count(m)).toBe(1);
  expect(sample(m, "foliosync_worker_redis_up")).toBe(1);
}, 120_000);

/** A free port P whose neighbour P+1 is free too. */
async function freePortPair(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "0.0.0.0", () => srv.close(() => resolve(true)));
    });
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (p < 65535 && (await free(p + 1))) return p;
  }
  throw new Error("no pair of free ports");
}

test("--role all: the Bun roles on WORKER_METRICS_PORT, the Deno training worker on the next port", async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), "foliosync-health-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePortPair();
  const w = startWorker("all", {
    REDIS_URL: redis.url,
    STORAGE_BACKEND: "local",
    STORAGE_DIR: dir,
    TFJS_BACKEND: "cpu",
    FOLIOSYNC_WORD_VECTORS: "off",
    WORKER_METRICS_PORT: String(port),
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir(),
  });
  await waitForOutput(w, /worker ready: roles plan,sync,merge,notify,train/, 30_000);
  await waitForOutput(w, /train worker ready \(backend cpu\)/, 90_000);
  const bun = JSON.parse((await pollReady(port, 200)).text);
  expect(bun).toMatchObject({ ready: true, roles: ["plan", "sync", "merge", "notify", "train"] });
  expect(Object.keys(bun.checks).sort()).toEqual(["queue:merge", "queue:notify", "queue:plan", "queue:sync", "redis"]);
  const train = await pollReady(port + 1, 200);
  expect(train.status).toBe(200);
  expect(JSON.parse(train.text)).toMatchObject({
    ready: true,
    roles: ["train"],
    checks: { "queue:train": "attached" },
  });
}, 120_000);

test("`npm run worker` runs the worker with the installed bun (no global bun on PATH)", async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), "foliosync-health-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  // A PATH with node and npm but no bun (this test itself runs under node_modules/.bin/bun).
  const path = "/usr/local/bin:/usr/bin:/bin";
  expect(spawnSync("sh", ["-c", "command -v bun"], { env: { PATH: path } }).status).not.toBe(0);
  expect(spawnSync("sh", ["-c", "command -v npm"], { env: { PATH: path } }).status).toBe(0);
  const w = startProcess("npm", ["run", "--silent", "worker", "--", "--role", "notify"], {
    // npm runs the worker in a child of its own: stop() signals both.
    processGroup: true,
    cwd: repoRoot,
    env: {
      PATH: path,
      HOME: process.env.HOME ?? tmpdir(),
      REDIS_URL: redis.url,
      STORAGE_DIR: dir,
      WORKER_METRICS_PORT: String(port),
    },
  });
  cleanups.push(() => w.stop(3000));
  await waitForOutput(w, /worker ready: roles notify/, 60_000);
  expect((await pollReady(port, 200)).status).toBe(200);
}, 90_000);

test("SIGTERM with Redis gone: the worker still exits (nothing waits on Redis without bound)", async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), "foliosync-health-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const w = startProcess(bunBin, ["workers/main.ts", "--role", "plan,sync,merge,notify"], {
    cwd: repoRoot,
    env: { ...process.env, REDIS_URL: redis.url, STORAGE_DIR: dir, WORKER_METRICS_PORT: String(port) },
  });
  cleanups.push(() => w.stop(3000));
  await waitForOutput(w, /worker ready/, 30_000);
  await redis.stop();
  w.kill("SIGTERM");
  expect([0, 1] as (number | null)[]).toContain(await w.exited);
}, 60_000);
