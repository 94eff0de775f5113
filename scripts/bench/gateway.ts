/**
 * Gateway benchmark: `npm run bench:gateway [-- --json] [--requests N] [--concurrency C]`
 * (bun scripts/bench/gateway.ts).
 *
 * Starts a private redis-server and the real gateway (deno, gateway/main.ts,
 * local storage with published bundles), then drives C concurrent keep-alive
 * clients (Bun fetch loops, default 100) through N requests (default 20,000)
 * of a mix, after a warm-up of 20,000 requests (`--warmup N`):
 *   25% POST /api/bundles/{u}/refresh      (1,000 users; the second request for a
 *                                            user in flight joins its job)
 *   35% GET  /api/bundles/{u}/status?job_id  (jobs seen so far)
 *   20% GET  /api/bundles/{u}                (200 with the bundle)
 *   20% GET  /api/bundles/{u} If-None-Match  (304)
 * then the floor — a bare Deno.serve doing one Redis LPUSH per request
 * (scripts/bench/floor-server.ts) — under the same load. The load generator
 * runs on the same machine as the servers (here: 2 cores shared by all): a
 * small keep-alive HTTP/1.1 client over node:net, one connection per client.
 * Diagnosis flags: `--only <kind>` (one kind of request), `--skip-floor`,
 * `--cpu-profile FILE` (the gateway's CPU profile over the measured run:
 * saved, and its self time summarized by function and module).
 * Prints p50/p99/rps of both; with --json the last line is
 * {"gateway":{"p50_ms","p99_ms","rps"},"floor":{"p50_ms","p99_ms","rps"}}.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import type { RepoRecord } from "../../shared/schemas/repo.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { startGateway } from "../../tests/support/gateway.ts";
import { denoBin, repoRoot } from "../../tests/support/paths.ts";
import { startProcess, waitForOutput } from "../../tests/support/process.ts";
import { startRedis } from "../../tests/support/redis.ts";
import { attachProfiler, summarize } from "./cpu-profile.ts";
import { cpuMs, drive, type Req, type Result } from "./http-load.ts";
import { numberFlag, parseScriptArgs } from "../lib/cli-args.ts";

const { values: argv } = parseScriptArgs(
  {
    json: { type: "boolean" },
    requests: { type: "string" },
    concurrency: { type: "string" },
    warmup: { type: "string" },
    only: { type: "string" },
    "cpu-profile": { type: "string" },
    "skip-floor": { type: "boolean" },
  },
  "bench:gateway [--json] [--requests N] [--concurrency C] [--warmup N] [--only KIND] [--cpu-profile FILE] [--skip-floor]",
);
const asJson = argv.json ?? false;
const REQUESTS = numberFlag(argv.requests, "requests", 20_000, 1);
const CONCURRENCY = numberFlag(argv.concurrency, "concurrency", 100, 1);
// Both servers are measured warm: V8 optimizes a handler only after thousands
// of calls, so a short warm-up leaves compiling in the measured run (2,000
// calls: ~79 vs ~47 µs of gateway CPU per request; BENCHMARKS.md).
const WARMUP = numberFlag(argv.warmup, "warmup", 20_000);
const USERS = 1_000;
/** Diagnosis: only one kind of request (refresh | status | bundle | etag | health). */
const ONLY = argv.only ?? "";
/** Diagnosis: a CPU profile of the gateway over the measured run, summarized (and saved to this file). */
const PROFILE = argv["cpu-profile"] ?? "";
/** Diagnosis: skip the floor run (gateway figures only). */
const SKIP_FLOOR = argv["skip-floor"] ?? false;
const BUNDLE_USERS = 50;
const log = (...a: unknown[]) => console.log(...a);

function record(user: string, name: string, i: number): RepoRecord {
  return {
    name,
    full_name: `${user}/${name}`,
    metadata: {
      description: `Project ${name} of ${user}`,
      topics: ["bench", "demo"],
      language: i % 2 ? "Python" : "TypeScript",
      html_url: `https://github.com/${user}/${name}`,
      homepage: null,
      stargazers_count: i,
      forks_count: 0,
      fork: false,
      archived: false,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-06-01T00:00:00Z",
      pushed_at: "2024-06-01T00:00:00Z",
      default_branch: "main",
      size: 100 + i,
      license: "MIT",
    },
    languages: { TypeScript: 1000 * i, Python: 10 },
    repoContext: { project_identity: { name, summary: `The ${name} project` }, tech_stack: { primary: ["Deno"] } },
    readme: `# ${name}\n\n` + "A realistic README paragraph about what this project does and how to run it. ".repeat(8),
    skills_index: "",
    architecture: "",
    has_documentation: true,
    fingerprint: (i + 1).toString(16).padStart(16, "0"),
    synced_at: "2024-06-02T00:00:00Z",
  };
}

async function main() {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "foliosync-bench-gw-"));
  const cleanup: (() => Promise<void>)[] = [
    () => redis.stop(),
    () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  ];
  try {
    // bundles for the GET part of the mix: 10 repos each
    const store = await LocalStore.open(dir);
    for (let u = 0; u < BUNDLE_USERS; u++) {
      const user = `bundle-user-${u}`;
      const bundle: Bundle = {
        username: user,
        fingerprint: (0xb000 + u).toString(16).padStart(16, "0"),
        content_fingerprint: (0xc000 + u).toString(16).padStart(16, "0"),
        generated_at: new Date(Date.UTC(2025, 0, 1, 0, u)).toISOString(),
        repos: Array.from({ length: 10 }, (_, i) => record(user, `repo-${i}`, i)),
      };
      await publishBundle(store, bundle);
    }

    const gw = await startGateway({
      env: {
        REDIS_URL: redis.url,
        STORAGE_DIR: dir,
        QUEUE_PREFIX: "bench",
        RATE_LIMIT_PER_MIN: "100000000",
        LOG_LEVEL: "warn",
        ...(process.env.BENCH_GATEWAY_V8_FLAGS ? { DENO_V8_FLAGS: process.env.BENCH_GATEWAY_V8_FLAGS } : {}),
      },
      denoArgs: PROFILE ? ["--inspect=127.0.0.1:0"] : [],
    });
    cleanup.unshift(() => gw.stop());
    const etags = new Map<string, string>();
    for (let u = 0; u < BUNDLE_USERS; u++) {
      const res = await fetch(`${gw.url}/api/bundles/bundle-user-${u}`);
      etags.set(`bundle-user-${u}`, res.headers.get("etag") ?? "");
      await res.text();
    }
    const jobs: { user: string; id: string }[] = [];
    let rnd = 12345;
    const rand = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      return rnd % n;
    };
    const JSON_POST = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
    const mixed = (_i: number): Req => {
      let k = rand(100);
      if (ONLY) k = ({ refresh: 0, status: 30, bundle: 70, etag: 90 } as Record<string, number>)[ONLY] ?? -1;
      if (k < 0) return { path: "/api/health" };
      if (k < 25 || jobs.length === 0) {
        const user = `user-${rand(USERS)}`;
        return {
          path: `/api/bundles/${user}/refresh`,
          ...JSON_POST,
          onBody: (status: number, text: string) => {
            if (status === 202 && jobs.length < 5000) jobs.push({ user, id: JSON.parse(text).job_id });
          },
        };
      }
      if (k < 60) {
        const j = jobs[rand(jobs.length)];
        return { path: `/api/bundles/${j.user}/status?job_id=${j.id}` };
      }
      const user = `bundle-user-${rand(BUNDLE_USERS)}`;
      if (k < 80) return { path: `/api/bundles/${user}` };
      return { path: `/api/bundles/${user}`, headers: { "if-none-match": etags.get(user)! } };
    };

    log(`gateway: warm-up ${WARMUP} requests…`);
    await drive(gw.url, WARMUP, CONCURRENCY, mixed);
    log(`gateway: ${REQUESTS} mixed requests, ${CONCURRENCY} concurrent clients…`);
    const profiler = PROFILE ? await attachProfiler(gw.process.output()) : null;
    await profiler?.start();
    const gwCpu0 = cpuMs(gw.process.child.pid);
    const gateway = await drive(gw.url, REQUESTS, CONCURRENCY, mixed);
    if (profiler) {
      const profile = await profiler.stop();
      profiler.close();
      writeFileSync(PROFILE, JSON.stringify(profile));
      log(summarize(profile));
    }
    gateway.cpu_us = Math.round(((cpuMs(gw.process.child.pid) - gwCpu0) * 1000) / REQUESTS);
    log(
      `gateway: p50 ${gateway.p50_ms} ms  p99 ${gateway.p99_ms} ms  ${gateway.rps} req/s  server CPU ${gateway.cpu_us} µs/req  client CPU ${gateway.client_cpu_us} µs/req  statuses ${
        JSON.stringify(gateway.statuses)
      }`,
    );
    await gw.stop();
    cleanup.shift();
    if (SKIP_FLOOR) {
      if (asJson) {
        console.log(JSON.stringify({ gateway: { p50_ms: gateway.p50_ms, p99_ms: gateway.p99_ms, rps: gateway.rps } }));
      }
      if (gateway.errors) process.exitCode = 1;
      return;
    }

    const floorProc = startProcess(denoBin, ["run", "-A", join(repoRoot, "scripts", "bench", "floor-server.ts")], {
      cwd: repoRoot,
      env: { ...process.env, PORT: "0", REDIS_URL: redis.url, NO_COLOR: "1" },
    });
    cleanup.unshift(() => floorProc.stop(2000));
    const floorUrl = (await waitForOutput(floorProc, /floor listening on (http:\/\/\S+)/, 30_000))[1];
    const floorReq = (): Req => ({ path: "/", ...JSON_POST });
    log(`floor: warm-up ${WARMUP} requests…`);
    await drive(floorUrl, WARMUP, CONCURRENCY, floorReq);
    log(`floor: ${REQUESTS} requests (one LPUSH each), ${CONCURRENCY} concurrent clients…`);
    const flCpu0 = cpuMs(floorProc.child.pid);
    const floor = await drive(floorUrl, REQUESTS, CONCURRENCY, floorReq);
    floor.cpu_us = Math.round(((cpuMs(floorProc.child.pid) - flCpu0) * 1000) / REQUESTS);
    log(
      `floor: p50 ${floor.p50_ms} ms  p99 ${floor.p99_ms} ms  ${floor.rps} req/s  server CPU ${floor.cpu_us} µs/req  client CPU ${floor.client_cpu_us} µs/req  statuses ${
        JSON.stringify(floor.statuses)
      }`,
    );
    log(
      `gateway/floor throughput ${
        (gateway.rps / floor.rps).toFixed(2)
      }× (target ≥ 0.5×); gateway p99 ${gateway.p99_ms} ms (target < 25 ms)`,
    );
    log("note: load generator, Redis and the server share this machine's cores");
    const pick = (r: Result) => ({ p50_ms: r.p50_ms, p99_ms: r.p99_ms, rps: r.rps });
    if (asJson) console.log(JSON.stringify({ gateway: pick(gateway), floor: pick(floor) }));
    if (gateway.errors || floor.errors) process.exitCode = 1;
  } finally {
    for (const c of cleanup) await c().catch(() => {});
  }
}

await main();
