/**
 * The whole foliosync stack in one command (Bun): a private redis-server
 * (unless REDIS_URL is set), optionally the GitHub fixture server, the
 * plan/sync/merge/notify workers in this process, the Deno training worker
 * and the Deno gateway as child processes. stop() ends everything it started.
 */
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, processEnv } from "../../shared/config.ts";
import { createContext, type WorkerContext } from "../../workers/context.ts";
import { createLogger } from "../../workers/log.ts";
import { ROLES, type RunningRoles, startRoles } from "../../workers/roles.ts";
import { announceWorker } from "../../shared/worker-presence.ts";
import { startFixtureServer } from "../github-fixture-server.ts";
import { freePort } from "./free-port.ts";
import { type Managed, startProcess, waitForOutput } from "./process.ts";
import { type RedisServer, startRedis } from "./redis-server.ts";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const deno = join(repoRoot, "node_modules", ".bin", "deno");

export interface EmbeddedStackOptions {
  /** Serve GitHub from ../shared/fixtures/github instead of GITHUB_API_URL. */
  fixtures?: boolean;
  fixtureLatencyMs?: number;
  /** Gateway port (0 = free port). Default $PORT or 8787. */
  port?: number;
  /** Start the Deno training worker (default true). */
  train?: boolean;
  /** Print child process output (default true). */
  inheritOutput?: boolean;
  env?: Record<string, string>;
}

export interface EmbeddedStack {
  gatewayUrl: string;
  githubUrl: string;
  env: Record<string, string>;
  ctx: WorkerContext;
  stop(): Promise<void>;
}

export async function startEmbeddedStack(opts: EmbeddedStackOptions = {}): Promise<EmbeddedStack> {
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const base = { ...processEnv(), ...opts.env } as Record<string, string>;
    let redis: RedisServer | undefined;
    if (!base.REDIS_URL) {
      redis = await startRedis();
      stops.push(() => redis!.stop());
    }
    let githubUrl = base.GITHUB_API_URL || "https://api.github.com";
    if (opts.fixtures) {
      const gh = await startFixtureServer({ port: 0, latencyMs: opts.fixtureLatencyMs ?? 0 });
      stops.push(() => gh.close());
      githubUrl = gh.url;
    }
    const port = opts.port ?? (Number(base.PORT) || 8787);
    const storageDir = resolve(base.STORAGE_DIR || join(repoRoot, "data"));
    if ((base.STORAGE_BACKEND || "local") === "local") mkdirSync(storageDir, { recursive: true });
    const xdg = base.XDG_RUNTIME_DIR || "/tmp/foliosync-xdg";
    mkdirSync(xdg, { recursive: true, mode: 0o700 });
    const env: Record<string, string> = {
      ...base,
      REDIS_URL: redis?.url ?? base.REDIS_URL,
      GITHUB_API_URL: githubUrl,
      STORAGE_DIR: storageDir,
      PORT: String(port === 0 ? await freePort() : port),
      XDG_RUNTIME_DIR: xdg,
    };
    const cfg = loadConfig(env);
    const ctx = await createContext(cfg, { log: createLogger(cfg.LOG_LEVEL === "info" ? "warn" : cfg.LOG_LEVEL) });
    const roles: RunningRoles = startRoles(ctx, ROLES);
    const presence = announceWorker(ctx.redis, cfg.QUEUE_PREFIX, {
      roles: [...ROLES],
      host: hostname(),
      pid: process.pid,
    });
    stops.push(async () => {
      await presence.stop();
      await roles.stop(2000);
      ctx.redis.disconnect();
    });

    const spawnOpts = { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"] };
    const children: Managed[] = [];
    const relay = (m: Managed, name: string) => {
      if (opts.inheritOutput === false) return;
      const out = (d: Buffer) => {
        for (const line of d.toString().split("\n")) if (line.trim()) console.error(`[${name}] ${line}`);
      };
      m.child.stdout?.on("data", out);
      m.child.stderr?.on("data", out);
    };
    if (opts.train !== false) {
      const trainer = startProcess(deno, ["run", "-A", join(repoRoot, "workers", "train", "main.ts")], spawnOpts);
      relay(trainer, "train");
      children.push(trainer);
      stops.push(() => trainer.stop(3000));
    }
    const gateway = startProcess(deno, ["run", "-A", join(repoRoot, "gateway", "main.ts")], spawnOpts);
    relay(gateway, "gateway");
    children.push(gateway);
    stops.push(() => gateway.stop(4000));
    const m = await waitForOutput(gateway, /gateway listening on (http:\/\/[^\s]+)/, 60_000);
    return { gatewayUrl: m[1], githubUrl, env, ctx, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
