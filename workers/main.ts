#!/usr/bin/env bun
/**
 * `bun run worker [--role plan|sync|merge|train|notify|all]` — a worker
 * process. `all` runs plan, sync, merge and notify here and the training
 * worker (Deno, for WebGPU) as a child process (its endpoints on the next port).
 *
 * It serves /health, /ready and /metrics on WORKER_METRICS_PORT from the
 * start, waits for Redis (saying on stderr what is missing, retrying), then
 * attaches its queues and prints `worker ready` only once they are attached.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, processEnv } from "../shared/config.ts";
import { Redis } from "ioredis";
import { createContext, type WorkerContext } from "./context.ts";
import { Readiness, startHealthServer, waitForRedis } from "./health-server.ts";
import type { Logger } from "./log.ts";
import { createLogger } from "./log.ts";
import { WorkerMetrics } from "./metrics.ts";
import { type Role, ROLES, type RunningRoles, startRoles } from "./roles.ts";
import { announceWorker, type PresenceHandle } from "../shared/worker-presence.ts";
import { flushTelemetry, initTelemetry } from "../shared/telemetry.ts";
import { parseScriptArgs } from "../scripts/lib/cli-args.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = "bun run worker [--role plan|sync|merge|train|notify|all[,…]]";

/** `--role` (default `all`, a comma list allowed) → the Bun roles to run here, and whether to start training. */
function parseRoles(value = "all"): { roles: Role[]; train: boolean } {
  const wanted = value.split(",").map((s) => s.trim());
  const roles: Role[] = [];
  let train = false;
  for (const w of wanted) {
    if (w === "all") {
      roles.push(...ROLES);
      train = true;
    } else if (w === "train") train = true;
    else if ((ROLES as readonly string[]).includes(w)) roles.push(w as Role);
    else throw new Error(`unknown role "${w}": use plan, sync, merge, train, notify or all`);
  }
  return { roles: [...new Set(roles)], train };
}

/**
 * The Deno training worker as a child process: node_modules/.bin/deno when
 * installed (a clone), else `deno` on PATH (an image with Deno).
 */
export function startTrainWorker(env: Record<string, string | undefined> = processEnv()) {
  const local = join(root, "node_modules", ".bin", "deno");
  const deno = existsSync(local) ? local : "deno";
  return spawn(deno, ["run", "-A", join(root, "workers", "train", "main.ts")], {
    cwd: root,
    env: { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR ?? "/tmp/foliosync-xdg" } as Record<string, string>,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** Retries `fn` until it succeeds or `signal` aborts, logging each failure with what is missing. */
async function retryVisibly<T>(what: string, fn: () => Promise<T>, log: Logger, signal: AbortSignal) {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delay = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
      log.error(`waiting for ${what}: ${(err as Error).message} (attempt ${attempt}, next in ${delay / 1000} s)`, {
        missing: what,
        attempt,
      });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return undefined;
}

if (import.meta.main) {
  const { values: argv } = parseScriptArgs({ role: { type: "string" } }, USAGE, {
    details: "all: plan, sync, merge and notify here, and the Deno training worker as a child process.\n" +
      "Serves /health, /ready and /metrics on WORKER_METRICS_PORT; reads the settings in .env.example.",
  });
  let parsed;
  let cfg;
  try {
    parsed = parseRoles(argv.role);
    cfg = loadConfig(processEnv());
  } catch (err) {
    console.error(`worker: ${(err as Error).message}`);
    process.exit(2);
  }
  initTelemetry("foliosync-worker");
  const { roles, train } = parsed;
  const names = [...roles, ...(train ? ["train"] : [])];
  const log = createLogger(cfg.LOG_LEVEL, { roles: names.join(",") });
  const metrics = new WorkerMetrics();
  metrics.collectProcessMetrics();
  const readiness = new Readiness(cfg.REDIS_URL, roles);
  const health = await startHealthServer({
    port: cfg.WORKER_METRICS_PORT,
    readiness,
    metrics,
    prefix: cfg.QUEUE_PREFIX,
    roles: names,
    log,
  });
  const abort = new AbortController();
  let ctx: WorkerContext | undefined;
  let running: RunningRoles | undefined;
  let presence: PresenceHandle | undefined;
  // The training worker serves its own endpoints on the next port.
  const trainPort = cfg.WORKER_METRICS_PORT && cfg.WORKER_METRICS_PORT < 65535 ? cfg.WORKER_METRICS_PORT + 1 : 0;
  const trainer = train ? startTrainWorker({ ...processEnv(), WORKER_METRICS_PORT: String(trainPort) }) : undefined;
  trainer?.on("error", (err) => {
    // No Deno here (the Bun worker image): the training worker runs from the train image instead.
    log.error(`training worker not started: ${err.message}; run it with --role train where Deno is installed`, {
      missing: "train",
    });
  });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    // Inside Kubernetes' 30 s grace period whatever waits on an unreachable Redis: the jobs held are
    // redelivered by stall detection, as after a crash.
    setTimeout(() => {
      log.error("shutdown did not finish within 25 s; exiting (held jobs are redelivered)");
      process.exit(1);
    }, 25_000);
    readiness.drain();
    abort.abort();
    trainer?.kill("SIGTERM");
    await presence?.stop();
    // In-flight jobs get up to 20 s (inside Kubernetes' 30 s grace); any still running are redelivered.
    await running?.stop(20_000);
    await flushTelemetry();
    ctx?.redis.disconnect();
    await health?.close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  if (roles.length > 0 && (await waitForRedis(cfg.REDIS_URL, log, { signal: abort.signal }))) {
    const redis = new Redis(cfg.REDIS_URL, { maxRetriesPerRequest: null, enableAutoPipelining: true });
    let lastRedisError = 0;
    redis.on("error", (err: Error) => {
      // ioredis reconnects by itself; say so at most every 10 s.
      if (Date.now() - lastRedisError < 10_000) return;
      lastRedisError = Date.now();
      log.error(`redis: ${err.message}; reconnecting`, { missing: "redis" });
    });
    const c = await retryVisibly("storage", () => createContext(cfg, { redis, log, metrics }), log, abort.signal);
    if (c && !stopping) {
      ctx = c;
      readiness.setRedis(c.redis);
      running = startRoles(c, roles);
      running.queues.forEach((q, i) => readiness.attach(roles[i], q));
      await Promise.all(running.queues.map((q) => q.ready()));
      // Listed by `foliosync workers`; gone within seconds of the process.
      presence = announceWorker(c.redis, cfg.QUEUE_PREFIX, { roles: names, host: hostname(), pid: process.pid });
      console.log(`worker ready: roles ${names.join(",")}`);
    } else redis.disconnect();
  } else if (roles.length === 0 && train) {
    console.log("worker ready: roles train");
  }
}
