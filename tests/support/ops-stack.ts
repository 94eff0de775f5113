/**
 * A running foliosync for CLI and runbook tests, made of the real parts as
 * separate processes: a private redis-server, the GitHub fixture server, the
 * Deno gateway, and a Bun worker process (`workers/main.ts --role
 * plan,sync,merge,notify`), with a temp storage dir. `cli(...)` runs the
 * real `foliosync` bin (scripts/cli/foliosync.mjs) asynchronously, so the
 * test's event loop stays free.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type StartedGateway, startGateway } from "./gateway.ts";
import { type FixtureServer, startFixtureServer } from "./fixture-server.ts";
import { bunBin, repoRoot } from "./paths.ts";
import { type Managed, startProcess, waitForOutput } from "./process.ts";
import { type RedisServer, startRedis } from "./redis.ts";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const cliBin = join(repoRoot, "scripts", "cli", "foliosync.mjs");

/** Runs the `foliosync` bin with `env` (no terminal: pipes). */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [cliBin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d.toString()));
    child.stderr.on("data", (d) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`foliosync ${args.join(" ")} ran over ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface OpsStack {
  redis: RedisServer;
  github: FixtureServer;
  gateway: StartedGateway;
  storageDir: string;
  /** What the workers read, plus FOLIOSYNC_URL for the CLI. */
  env: Record<string, string>;
  /** The first worker process started (null once workers are stopped). */
  worker: Managed | null;
  /** A worker process (`--role` roles, default plan,sync,merge,notify) with extra environment. */
  startWorker(roles?: string, extraEnv?: Record<string, string>): Promise<Managed>;
  /** Stops every worker process (SIGTERM: they drain). */
  stopWorker(): Promise<void>;
  cli(args: string[], extraEnv?: Record<string, string>): Promise<CliResult>;
  stop(): Promise<void>;
}

export async function startOpsStack(
  opts: { latencyMs?: number; env?: Record<string, string>; worker?: boolean } = {},
): Promise<OpsStack> {
  const redis = await startRedis();
  const github = await startFixtureServer({ latencyMs: opts.latencyMs ?? 0 });
  const storageDir = mkdtempSync(join(tmpdir(), "foliosync-cli-"));
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    GITHUB_API_URL: github.url,
    STORAGE_BACKEND: "local",
    STORAGE_DIR: storageDir,
    LOG_LEVEL: "error",
    // Several worker processes run side by side: no fixed health/metrics port.
    WORKER_METRICS_PORT: "0",
    ...opts.env,
  };
  let gateway: StartedGateway;
  try {
    gateway = await startGateway({ env });
  } catch (err) {
    await github.stop();
    await redis.stop();
    throw err;
  }
  env.FOLIOSYNC_URL = gateway.url;
  const workers: Managed[] = [];
  const stack: OpsStack = {
    redis,
    github,
    gateway,
    storageDir,
    env,
    worker: null,
    async startWorker(roles = "plan,sync,merge,notify", extraEnv = {}) {
      const w = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", roles], {
        cwd: repoRoot,
        env: { ...process.env, ...env, ...extraEnv },
      });
      workers.push(w);
      await waitForOutput(w, /worker ready/, 30_000);
      stack.worker ??= w;
      return w;
    },
    async stopWorker() {
      await Promise.all(workers.splice(0).map((w) => w.stop(5000)));
      stack.worker = null;
    },
    cli: (args, extraEnv = {}) => runCli(args, { ...env, ...extraEnv }),
    async stop() {
      await stack.stopWorker();
      await gateway.stop();
      await github.stop();
      await redis.stop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
  if (opts.worker !== false) {
    try {
      await stack.startWorker();
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }
  return stack;
}
