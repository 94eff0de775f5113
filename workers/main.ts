#!/usr/bin/env bun
/**
 * `bun run worker [--role plan|sync|merge|train|notify|all]` — a worker
 * process. `all` runs plan, sync, merge and notify here and the training
 * worker (Deno, for WebGPU) as a child process.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { loadConfig, processEnv } from "../shared/config.ts";
import { createContext } from "./context.ts";
import { type Role, ROLES, startRoles } from "./roles.ts";
import { announceWorker } from "../shared/worker-presence.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function parseRoles(argv: string[]): { roles: Role[]; train: boolean } {
  const i = argv.indexOf("--role");
  const value = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith("--role="))?.slice(7) ?? "all";
  if (!value) throw new Error("--role needs a value: plan|sync|merge|train|notify|all");
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

export function startTrainWorker(env: Record<string, string | undefined> = processEnv()) {
  const deno = join(root, "node_modules", ".bin", "deno");
  return spawn(deno, ["run", "-A", join(root, "workers", "train", "main.ts")], {
    cwd: root,
    env: { ...env, XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR ?? "/tmp/foliosync-xdg" } as Record<string, string>,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

if (import.meta.main) {
  let parsed;
  let cfg;
  try {
    parsed = parseRoles(process.argv.slice(2));
    cfg = loadConfig(processEnv());
  } catch (err) {
    console.error(`worker: ${(err as Error).message}`);
    process.exit(2);
  }
  const ctx = await createContext(cfg);
  const running = startRoles(ctx, parsed.roles);
  const trainer = parsed.train ? startTrainWorker() : undefined;
  // Listed by `foliosync workers`; gone within seconds of the process.
  const presence = announceWorker(ctx.redis, cfg.QUEUE_PREFIX, {
    roles: [...parsed.roles, ...(parsed.train ? ["train"] : [])],
    host: hostname(),
    pid: process.pid,
  });
  console.log(`worker ready: roles ${[...parsed.roles, ...(parsed.train ? ["train"] : [])].join(",")}`);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    trainer?.kill("SIGTERM");
    await presence.stop();
    await running.stop();
    ctx.redis.disconnect();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
