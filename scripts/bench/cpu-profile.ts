/**
 * Diagnosis for the benchmarks: a CPU profile of a Deno process started with
 * `--inspect=127.0.0.1:0`, taken over the inspector protocol (Deno has no
 * `--cpu-prof`).
 *
 *   const prof = await attachProfiler(proc.output());   // after the "Debugger listening" line
 *   await prof.start();  …load…  const profile = await prof.stop();
 *   console.log(summarize(profile));                     // self time by function
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Profiler {
  start(): Promise<void>;
  stop(): Promise<CpuProfile>;
  close(): void;
}

/** Connects to the inspector whose `ws://` address the process printed. */
export async function attachProfiler(output: string, intervalUs = 100): Promise<Profiler> {
  const m = output.match(/(ws:\/\/[^\s]+)/);
  if (!m) throw new Error("no inspector address in the process output (started with --inspect?)");
  const ws = new WebSocket(m[1]);
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error(`cannot connect to ${m[1]}`));
  });
  let nextId = 1;
  const waiting = new Map<number, (r: unknown) => void>();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(String(ev.data));
    if (msg.id && waiting.has(msg.id)) {
      waiting.get(msg.id)!(msg.result);
      waiting.delete(msg.id);
    }
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((res) => {
      const id = nextId++;
      waiting.set(id, res);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: intervalUs });
  return {
    start: async () => void (await send("Profiler.start")),
    stop: async () => ((await send("Profiler.stop")) as { profile: CpuProfile }).profile,
    close: () => ws.close(),
  };
}

/** The `top` functions by self time, and self time grouped by module file. */
export function summarize(p: CpuProfile, top = 30): string {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    if (!t) continue;
    total += t;
    const file = n.callFrame.url.replace(/^.*\/(node_modules\/\.deno\/|node_modules\/|work\/main\/)/, "") || "(native)";
    const fn = `${n.callFrame.functionName || "(anonymous)"}  ${file}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + t);
    const group = file.split("/").slice(0, 2).join("/");
    byFile.set(group, (byFile.get(group) ?? 0) + t);
  }
  const pct = (t: number) => ((100 * t) / total).toFixed(1).padStart(5) + " %";
  const lines = [`self time by function (total ${(total / 1000).toFixed(0)} ms):`];
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(t)}  ${k}`);
  lines.push("self time by module:");
  for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 20)) lines.push(`${pct(t)}  ${k}`);
  return lines.join("\n");
}
