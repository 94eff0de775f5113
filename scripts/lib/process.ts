import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";

export interface Managed {
  child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

const live = new Set<Managed>();

export interface StartOptions extends SpawnOptions {
  /**
   * The process leads a process group of its own, and signals go to the whole
   * group: for a launcher (`npm run …`, a shell) whose real work runs in a
   * child that a signal to the launcher alone would leave behind.
   */
  processGroup?: boolean;
}

/** Spawns a process whose output is captured and which is killed at exit at the latest. */
export function startProcess(cmd: string, args: string[], opts: StartOptions = {}): Managed {
  const { processGroup = false, ...spawnOpts } = opts;
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...spawnOpts,
    ...(processGroup ? { detached: true } : {}),
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += d.toString()));
  child.stderr?.on("data", (d) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => {
    if (child.exitCode !== null) return res(child.exitCode);
    child.once("exit", (code) => res(code));
    child.once("error", () => res(null));
  });
  const m: Managed = {
    child,
    output: () => out,
    exited,
    kill: (signal = "SIGKILL") => {
      try {
        if (processGroup && child.pid !== undefined) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch { /* already gone */ }
    },
    async stop(graceMs = 3000) {
      live.delete(m);
      if (child.exitCode !== null || child.signalCode !== null) return;
      m.kill("SIGTERM");
      const t = setTimeout(() => m.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  live.add(m);
  exited.then(() => live.delete(m));
  return m;
}

/** Waits until the process prints a line matching re; returns the match. */
export async function waitForOutput(m: Managed, re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = m.output().match(re);
    if (match) return match;
    if (m.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(
    `timed out waiting for ${re} from ${m.child.spawnargs.join(" ")}; output:\n${m.output().slice(-2000)}`,
  );
}

// A test never leaves a process behind, even when it forgets to stop one.
// deno-lint-ignore no-explicit-any -- runtime-neutral code reads the other runtime's globals (Deno, process, Bun), which no single lib declares
const g = globalThis as any;
g.process?.once?.("exit", () => {
  for (const m of live) m.kill("SIGKILL");
});
