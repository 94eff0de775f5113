#!/usr/bin/env bun
/**
 * `npm run bench:load -- [--json] [--users 100] [--duration-s 60] [--latency-ms 100] [--drain-timeout-s 600] [--no-train]`
 *
 * The whole stack (private Redis, fixture GitHub at --latency-ms, the
 * plan/sync/merge/notify workers, the Deno training worker, the Deno
 * gateway) under N simulated users for D seconds. Each user, in a loop:
 * refreshes its GitHub account (fixture users and generated `gen-<N>` users of
 * 10–300 repos; one in five forced), follows the job to a final state by SSE
 * (even users) or by polling its status (odd users), reads the bundle and asks
 * /api/ai. After D seconds no new refresh starts; the run waits for every
 * accepted job to end (drain_s). A job still in flight then is lost.
 *
 * The last line printed is one JSON object:
 * {"requests","errors","lost_jobs","refreshes_completed_per_s","drain_s","routes":{"<route>":{"p50_ms","p95_ms","p99_ms"}}}
 * plus "failed_jobs", "accepted_jobs" and the settings used.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FINAL_STATES, type JobRecord } from "../../shared/schemas/job.ts";
import { startEmbeddedStack } from "../lib/embedded-stack.ts";
import { numberFlag, parseScriptArgs } from "../lib/cli-args.ts";
import { sseData } from "../lib/sse.ts";

const { values: args } = parseScriptArgs(
  {
    json: { type: "boolean" },
    users: { type: "string" },
    "duration-s": { type: "string" },
    "latency-ms": { type: "string" },
    "drain-timeout-s": { type: "string" },
    "no-train": { type: "boolean" },
  },
  "bench:load [--json] [--users 100] [--duration-s 60] [--latency-ms 100] [--drain-timeout-s 600] [--no-train]",
);
const USERS = numberFlag(args.users, "users", 100);
const DURATION_S = numberFlag(args["duration-s"], "duration-s", 60);
const LATENCY_MS = numberFlag(args["latency-ms"], "latency-ms", 100);
const DRAIN_TIMEOUT_S = numberFlag(args["drain-timeout-s"], "drain-timeout-s", 600);
const log = (m: string) => {
  if (!args.json) console.error(m);
};

/** The GitHub account each simulated user refreshes: fixture users and generated ones of 10–300 repos. */
function accountFor(i: number): string {
  if (i % 10 === 0) return "yungryce";
  if (i % 10 === 5) return "sindresorhus";
  const sizes = [10, 25, 50, 100, 200, 300];
  return `gen-${sizes[i % sizes.length]}-u${i}`;
}

const QUESTIONS = [
  "which projects use kubernetes",
  "show me a python web api",
  "what has the person built with react",
  "infrastructure as code experience",
  "a command line tool in go",
];

const latencies = new Map<string, number[]>();
let requests = 0;
let errors = 0;
const errorSamples: string[] = [];
const accepted = new Map<string, string>(); // job id → account
const finalSeen = new Map<string, JobRecord>();
let completedInWindow = 0;
let loadEnds = Infinity;

function record(route: string, ms: number, ok: boolean, detail: string) {
  requests++;
  let l = latencies.get(route);
  if (!l) latencies.set(route, l = []);
  l.push(ms);
  if (!ok) {
    errors++;
    if (errorSamples.length < 10) errorSamples.push(`${route}: ${detail}`);
  }
}

async function timed(route: string, url: string, init?: RequestInit): Promise<Response | null> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, init);
    record(route, performance.now() - t0, res.status < 400, `${res.status}`);
    return res;
  } catch (err) {
    // The client's own deadline (the end of the load phase) is not a server error.
    if ((err as Error).name === "TimeoutError" || (err as Error).name === "AbortError") return null;
    record(route, performance.now() - t0, false, (err as Error).message);
    return null;
  }
}

function noteFinal(job: JobRecord) {
  if (finalSeen.has(job.job_id)) return;
  finalSeen.set(job.job_id, job);
  if (performance.now() <= loadEnds && job.state !== "failed") completedInWindow++;
}

/** Follows a job to its final state until the load phase ends (then the drain reads it). */
async function followBySse(base: string, eventsUrl: string, until: number): Promise<void> {
  const res = await timed("GET /api/bundles/{u}/events", base + eventsUrl, {
    headers: { accept: "text/event-stream" },
    signal: AbortSignal.timeout(Math.max(1, until - performance.now())),
  });
  if (!res?.body) return;
  try {
    for await (const data of sseData(res.body)) {
      const job = JSON.parse(data) as JobRecord;
      if (FINAL_STATES.has(job.state)) return noteFinal(job);
    }
  } catch {
    // A stream cut short: the final state is read by the drain.
  }
}

async function followByPolling(base: string, statusUrl: string, until: number): Promise<void> {
  while (performance.now() < until) {
    const res = await timed("GET /api/bundles/{u}/status", base + statusUrl);
    if (!res) return;
    if (res.status !== 200) {
      await res.body?.cancel();
      return;
    }
    const job = (await res.json()) as JobRecord;
    if (FINAL_STATES.has(job.state)) return noteFinal(job);
    await Bun.sleep(500);
  }
}

async function simulatedUser(base: string, i: number, until: number): Promise<void> {
  const account = accountFor(i);
  let round = 0;
  while (performance.now() < until) {
    const force = round++ % 5 === 4;
    const res = await timed("POST /api/bundles/{u}/refresh", `${base}/api/bundles/${account}/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ force_refresh: force }),
    });
    if (!res || res.status !== 202) {
      await res?.body?.cancel();
      await Bun.sleep(1000);
      continue;
    }
    const acc = (await res.json()) as { job_id: string; status_url: string; events_url: string };
    accepted.set(acc.job_id, account);
    if (i % 2 === 0) await followBySse(base, acc.events_url, until);
    else await followByPolling(base, acc.status_url, until);
    if (performance.now() >= until) break;
    const bundle = await timed("GET /api/bundles/{u}", `${base}/api/bundles/${account}`);
    await bundle?.body?.cancel();
    const ai = await timed("POST /api/ai", `${base}/api/ai`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: QUESTIONS[(i + round) % QUESTIONS.length], username: account }),
    });
    await ai?.body?.cancel();
    await Bun.sleep(200 + ((i * 37 + round * 101) % 800));
  }
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
const round1 = (x: number) => Math.round(x * 10) / 10;

const storageDir = mkdtempSync(join(tmpdir(), "foliosync-load-"));
const stack = await startEmbeddedStack({
  fixtures: true,
  fixtureLatencyMs: LATENCY_MS,
  port: 0,
  train: !args["no-train"],
  inheritOutput: false,
  env: {
    STORAGE_BACKEND: "local",
    STORAGE_DIR: storageDir,
    // One client address for every simulated user: the per-client limits (refreshes, /api/ai, open event
    // streams) would count all 100 as one client, and they are not what is measured.
    RATE_LIMIT_PER_MIN: "1000000",
    AI_RATE_LIMIT_PER_MIN: "1000000",
    MAX_STREAMS_PER_CLIENT: "10000",
    LOG_LEVEL: "error",
    WORKER_METRICS_PORT: "0",
  },
});
let exitCode = 0;
try {
  log(`bench:load: ${USERS} users for ${DURATION_S} s against ${stack.gatewayUrl} (GitHub latency ${LATENCY_MS} ms)`);
  const t0 = performance.now();
  loadEnds = t0 + DURATION_S * 1000;
  await Promise.all(Array.from({ length: USERS }, (_, i) => simulatedUser(stack.gatewayUrl, i, loadEnds)));
  // Drain: every accepted job must reach a final state.
  const drainStart = Math.max(performance.now(), loadEnds);
  const drainDeadline = drainStart + DRAIN_TIMEOUT_S * 1000;
  let open: string[] = [];
  for (;;) {
    open = [];
    for (const id of accepted.keys()) {
      if (finalSeen.has(id)) continue;
      const job = await stack.ctx.jobs.get(id);
      if (job && FINAL_STATES.has(job.state)) noteFinal(job);
      else open.push(id);
    }
    if (open.length === 0 || performance.now() > drainDeadline) break;
    await Bun.sleep(250);
  }
  const drainS = (performance.now() - drainStart) / 1000;
  const failedJobs = [...finalSeen.values()].filter((j) => j.state === "failed");
  const routes: Record<string, { p50_ms: number; p95_ms: number; p99_ms: number }> = {};
  for (const [route, xs] of [...latencies].sort()) {
    routes[route] = {
      p50_ms: round1(quantile(xs, 0.5)),
      p95_ms: round1(quantile(xs, 0.95)),
      p99_ms: round1(quantile(xs, 0.99)),
    };
  }
  log(`errors: ${errorSamples.join("; ") || "none"}`);
  if (failedJobs.length) log(`failed jobs: ${failedJobs.slice(0, 5).map((j) => j.error).join("; ")}`);
  if (errors > 0 || open.length > 0) exitCode = 1;
  console.log(JSON.stringify({
    requests,
    errors,
    lost_jobs: open.length,
    refreshes_completed_per_s: Math.round((completedInWindow / DURATION_S) * 100) / 100,
    drain_s: round1(drainS),
    routes,
    accepted_jobs: accepted.size,
    failed_jobs: failedJobs.length,
    users: USERS,
    duration_s: DURATION_S,
    github_latency_ms: LATENCY_MS,
    wall_s: round1((performance.now() - t0) / 1000),
  }));
} finally {
  await stack.stop();
  rmSync(storageDir, { recursive: true, force: true });
}
process.exit(exitCode);
