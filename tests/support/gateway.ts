/**
 * Starts the real gateway (`deno run -A gateway/main.ts`) as a child process
 * on a free port, for end-to-end tests under `bun test` and `deno test`.
 *
 *   const gw = await startGateway({ env: { REDIS_URL: redis.url, STORAGE_DIR: dir } });
 *   await fetch(gw.url + "/api/health");
 *   await gw.stop();
 *
 * PORT defaults to 0 (the gateway prints the port it got); the parent's
 * environment is inherited, `env` wins.
 */
import { join } from "node:path";
import { denoBin, repoRoot } from "./paths.ts";
import { type Managed, startProcess, waitForOutput } from "./process.ts";

export interface StartedGateway {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  port: number;
  process: Managed;
  stop(): Promise<void>;
}

export const gatewayMain = join(repoRoot, "gateway", "main.ts");

export async function startGateway(
  opts: { env?: Record<string, string>; timeoutMs?: number; denoArgs?: string[] } = {},
): Promise<StartedGateway> {
  // deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
  const g = globalThis as any;
  const baseEnv: Record<string, string> = g.Deno?.env?.toObject?.() ?? g.process?.env ?? {};
  const env = { ...baseEnv, PORT: "0", HOST: "127.0.0.1", NO_COLOR: "1", ...opts.env };
  const proc = startProcess(denoBin, ["run", "-A", ...(opts.denoArgs ?? []), gatewayMain], { cwd: repoRoot, env });
  let url: string;
  try {
    const m = await waitForOutput(proc, /gateway listening on (http:\/\/\S+)/, opts.timeoutMs ?? 30_000);
    url = m[1];
  } catch (err) {
    await proc.stop(500);
    throw err;
  }
  return { url, port: Number(new URL(url).port), process: proc, stop: () => proc.stop(3000) };
}
