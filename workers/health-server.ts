/**
 * The health and metrics endpoints of a worker process (Bun roles and the
 * Deno training worker alike), on WORKER_METRICS_PORT (0: not served):
 *   GET /health   200 while the process runs (liveness)
 *   GET /ready    200 only when Redis answers and every queue this process
 *                 consumes is attached; otherwise 503 naming what is missing
 *   GET /metrics  Prometheus text format (metrics.ts)
 * node:http, so one module serves in both runtimes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type BeeQueue from "bee-queue";
import { Redis } from "ioredis";
import type { Logger } from "./log.ts";
import { withTimeout, type WorkerMetrics } from "./metrics.ts";

/** What /ready reports. */
export interface ReadyReport {
  ready: boolean;
  checks: Record<string, string>;
  missing: string[];
}

/** A queue as bee-queue 2.0 keeps it: `_isReady` after its Lua scripts load, node-redis clients with `connected`. */
interface BeeInternals {
  _isReady?: boolean;
  _isClosed?: boolean;
  paused?: boolean;
  client?: { connected?: boolean } | null;
  bclient?: { connected?: boolean } | null;
}

/**
 * The process's readiness: which queues it must consume, the Redis client
 * once connected, and whether it is draining. Ready means all of them hold.
 */
export class Readiness {
  private redis: Redis | undefined;
  private readonly queues = new Map<string, BeeQueue | undefined>();
  private draining = false;

  constructor(readonly redisUrl: string, queueNames: readonly string[]) {
    for (const q of queueNames) this.queues.set(q, undefined);
  }

  setRedis(redis: Redis): void {
    this.redis = redis;
  }
  attach(name: string, queue: BeeQueue): void {
    this.queues.set(name, queue);
  }
  /** SIGTERM: stop taking traffic before the queues close. */
  drain(): void {
    this.draining = true;
  }
  get redisClient(): Redis | undefined {
    return this.redis;
  }

  async check(): Promise<ReadyReport> {
    const checks: Record<string, string> = {};
    const missing: string[] = [];
    if (this.draining) {
      checks.process = "draining (shutting down)";
      missing.push("process: draining");
    }
    if (!this.redis) {
      checks.redis = `not connected yet: waiting for ${redactUrl(this.redisUrl)}`;
      missing.push("redis");
    } else {
      try {
        await withTimeout(this.redis.ping(), 2_000, "PING");
        checks.redis = "ok";
      } catch (err) {
        checks.redis = `not answering at ${redactUrl(this.redisUrl)}: ${(err as Error).message}`;
        missing.push("redis");
      }
    }
    for (const [name, q] of this.queues) {
      const state = queueState(q);
      checks[`queue:${name}`] = state;
      if (state !== "attached") missing.push(`queue:${name}`);
    }
    return { ready: missing.length === 0, checks, missing };
  }
}

function queueState(q: BeeQueue | undefined): string {
  if (!q) return "not attached yet";
  const b = q as unknown as BeeInternals;
  if (b._isClosed) return "closed";
  if (b.paused) return "paused";
  if (!b._isReady) return "connecting";
  if (b.client?.connected === false || b.bclient?.connected === false) return "disconnected from Redis";
  return "attached";
}

/** A Redis URL safe to print: the password (and a user name) replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    if (u.username && u.username !== "default") u.username = "****";
    return u.toString();
  } catch {
    return "(unparseable REDIS_URL)";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until Redis answers PING, retrying with capped backoff and saying on
 * each failure what is missing. false when `signal` ended the wait.
 */
export async function waitForRedis(
  url: string,
  log: Logger,
  opts: { signal?: AbortSignal; maxDelayMs?: number } = {},
): Promise<boolean> {
  for (let attempt = 1;; attempt++) {
    if (opts.signal?.aborted) return false;
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 3_000,
      retryStrategy: () => null,
    });
    // The socket's own error (e.g. ECONNREFUSED) says more than connect()'s "Connection is closed".
    let cause: Error | undefined;
    probe.on("error", (err: Error) => (cause ??= err));
    try {
      await probe.connect();
      await withTimeout(probe.ping(), 3_000, "PING");
      return true;
    } catch (err) {
      const delay = Math.min(opts.maxDelayMs ?? 10_000, 500 * 2 ** Math.min(attempt, 5));
      log.error(
        `waiting for Redis at ${redactUrl(url)}: ${(cause ?? (err as Error)).message || String(err)} ` +
          `(attempt ${attempt}, next in ${Math.round(delay / 100) / 10} s); ` +
          "start one (redis-server, or `docker compose up -d redis`) or set REDIS_URL",
        { missing: "redis", attempt },
      );
      await sleep(delay);
    } finally {
      probe.disconnect();
    }
  }
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves /health, /ready and /metrics on `port` (0: none). A port already in
 * use is logged and the worker keeps consuming (its probes then fail, which
 * is what an orchestrator sees).
 */
export async function startHealthServer(opts: {
  port: number;
  host?: string;
  readiness: Readiness;
  metrics: WorkerMetrics;
  prefix: string;
  roles: readonly string[];
  log: Logger;
}): Promise<HealthServer | undefined> {
  if (!opts.port) return undefined;
  const started = Date.now();
  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, body: unknown) =>
    send(res, status, "application/json; charset=utf-8", JSON.stringify(body));
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    try {
      if (path === "/health") {
        return json(res, 200, { status: "ok", roles: opts.roles, uptime_s: Math.round((Date.now() - started) / 1000) });
      }
      if (path === "/ready") {
        const r = await opts.readiness.check();
        return json(res, r.ready ? 200 : 503, { ...r, roles: opts.roles });
      }
      if (path === "/metrics") {
        const text = await opts.metrics.render(opts.readiness.redisClient, opts.prefix);
        return send(res, 200, opts.metrics.contentType, text);
      }
      return json(res, 404, { error: "not found: try /health, /ready or /metrics" });
    } catch (err) {
      opts.log.error(`health server: ${(err as Error).message}`);
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.end();
    }
  };
  const server: Server = createServer((req, res) => void handler(req, res));
  const host = opts.host ?? "0.0.0.0";
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", (err: Error) => {
      opts.log.error(`health/metrics server not started on port ${opts.port}: ${err.message}`, {
        missing: "health server",
      });
      resolve(false);
    });
    server.listen(opts.port, host, () => resolve(true));
  });
  if (!ok) return undefined;
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  opts.log.info(`health and metrics on http://${host}:${port} (/health, /ready, /metrics)`);
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // Probes keep connections alive; closing must not wait for them.
        server.closeAllConnections?.();
      }),
  };
}
