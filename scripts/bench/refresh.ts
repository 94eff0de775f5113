#!/usr/bin/env bun
/**
 * `npm run bench:refresh [-- --json] [--latency-ms N] [--jobs N] [--repos N] [--rounds N] [--quick]`: its own Redis and GitHub fixture
 * server (--latency-ms 100), workers in this process, local storage in a
 * temp dir, a GitHub token (so plan and sync use GraphQL). Measures, in one
 * run: cold yungryce, warm with nothing changed, warm with 2 changed, cold
 * sindresorhus, the same cold sindresorhus over REST, and a cold generated
 * user `gen-<N>` of --repos (default 1,000) repositories both ways (wall time; GitHub requests,
 * REST and GraphQL together; GraphQL points; and the latency floor of the
 * path taken: GraphQL = latency × (listing queries + 1 round of batched file
 * queries), REST = latency × (list rounds + ⌈content requests ÷ 100⌉)); and
 * pipeline jobs/s (foliosync's queue layer: atomic bulk enqueue + bee-queue
 * consumers + the exactly-once fan-in script per job) against raw bee-queue
 * with empty jobs. The last line is one JSON object. `--rounds=N` repeats the
 * cold yungryce case N times (each from nothing: Redis, storage and fixture
 * wiped) and reports the median round, with every round in
 * `cold_yungryce_rounds_ms`; `--quick` leaves out the generated user and the
 * queue throughput.
 */
import BeeQueue from "bee-queue";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../shared/config.ts";
import { FINAL_STATES, type JobRecord } from "../../shared/schemas/job.ts";
import { createContext } from "../../workers/context.ts";
import { createLogger } from "../../workers/log.ts";
import { createQueue } from "../../workers/queues.ts";
import { ROLES, startRoles } from "../../workers/roles.ts";
import { startFixtureServer } from "../../tests/support/fixture-server.ts";
import { numberFlag, parseScriptArgs } from "../lib/cli-args.ts";
import { startRedis } from "../lib/redis-server.ts";

const { values: argv } = parseScriptArgs(
  {
    json: { type: "boolean" },
    "latency-ms": { type: "string" },
    jobs: { type: "string" },
    repos: { type: "string" },
    rounds: { type: "string" },
    quick: { type: "boolean" },
  },
  "bench:refresh [--json] [--latency-ms N] [--jobs N] [--repos N] [--rounds N] [--quick]",
);
const LATENCY = numberFlag(argv["latency-ms"], "latency-ms", 100);
const JOBS = numberFlag(argv.jobs, "jobs", 20_000, 1);
const asJson = argv.json === true;
const BIG = numberFlag(argv.repos, "repos", 1000, 1);
const ROUNDS = numberFlag(argv.rounds, "rounds", 1, 1);
const QUICK = argv.quick === true;
const log = (s: string) => (asJson ? console.error(s) : console.log(s));

const redis = await startRedis();
// The fixture GitHub runs in its own process, as GitHub is another machine.
const gh = await startFixtureServer({ latencyMs: LATENCY });
const storageDir = mkdtempSync(join(tmpdir(), "foliosync-bench-"));
const env = {
  REDIS_URL: redis.url,
  GITHUB_API_URL: gh.url,
  STORAGE_BACKEND: "local",
  STORAGE_DIR: storageDir,
  LOG_LEVEL: "error",
  GITHUB_TOKEN: "bench-token",
  // The 1,000-repo REST case needs ~5,000 requests: above the default per-refresh budget.
  GITHUB_REQUEST_BUDGET: "100000",
};
const cfg = loadConfig(env);
const ctx = await createContext(cfg, { log: createLogger("silent") });

type Stats = Record<string, number>;
const control = (path: string, body?: unknown) =>
  fetch(
    `${gh.url}/_fixture/${path}`,
    body === undefined
      ? {}
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
  )
    .then((r) => r.json() as Promise<Stats>);
const content = (s: Stats) => s.readme + s.contents + s.languages;

async function refresh(username: string): Promise<{ job: JobRecord; ms: number; stats: Stats }> {
  await control("reset-stats", {});
  const t = performance.now();
  const { job } = await ctx.jobs.requestRefresh({ username });
  for (;;) {
    const j = await ctx.jobs.get(job.job_id);
    if (j && FINAL_STATES.has(j.state)) {
      const ms = performance.now() - t;
      return { job: j, ms, stats: await control("stats") };
    }
    await Bun.sleep(2);
  }
}
const floor = (listRounds: number, contentRequests: number) =>
  LATENCY * (listRounds + Math.ceil(contentRequests / 100));
/** GraphQL: the listing queries run one after another, the batched file queries in one parallel round. */
const graphqlFloor = (listQueries: number, graphqlQueries: number) =>
  LATENCY * (listQueries + (graphqlQueries > listQueries ? 1 : 0));

const roles = startRoles(ctx, ROLES.filter((r) => r !== "notify"));
await Bun.sleep(200);

// Warm the worker process (JIT, connection pools) with one refresh, then
// wipe every trace of it (Redis, storage, fixture state): "cold" below means
// nothing cached or stored for the user, in a worker that has run before.
const firstEver = await refresh("yungryce");
log(`warm-up (first refresh in a fresh process): ${Math.round(firstEver.ms)} ms → ${firstEver.job.state}`);
await ctx.redis.flushall();
for (const entry of readdirSync(storageDir)) rmSync(join(storageDir, entry), { recursive: true, force: true });
await control("reset", {});
await Bun.sleep(100);

/** A cold refresh of `user` whose repository list takes `listRounds` sequential rounds: figures + one log line. */
async function coldRefresh(user: string, listRounds: number, label = "cold") {
  const r = await refresh(user);
  const graphql = r.stats.graphql ?? 0;
  const out = {
    ms: Math.round(r.ms),
    floor_ms: graphql > 0 ? graphqlFloor(listRounds, graphql) : floor(listRounds, content(r.stats)),
    requests: r.stats.total,
    graphql_points: r.stats.graphql_points ?? 0,
    max_in_flight: r.stats.max_in_flight,
    repos: r.job.progress.total,
    state: r.job.state,
  };
  log(
    `${label} ${user}: ${out.ms} ms (floor ${out.floor_ms} ms, ${out.requests} requests, ${out.graphql_points} GraphQL points, max ${out.max_in_flight} in flight) → ${out.state}`,
  );
  return out;
}

/** Forgets every trace of earlier refreshes (Redis, storage, fixture state): the next refresh is cold. */
async function wipe() {
  await ctx.redis.flushall();
  for (const entry of readdirSync(storageDir)) rmSync(join(storageDir, entry), { recursive: true, force: true });
  await control("reset", {});
}

const coldRounds: Awaited<ReturnType<typeof coldRefresh>>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  if (round > 0) await wipe();
  coldRounds.push(await coldRefresh("yungryce", 1));
}
const coldYungryce = [...coldRounds].sort((a, b) => a.ms - b.ms)[Math.floor(coldRounds.length / 2)];

const warm = await refresh("yungryce");
const warmUnchanged = {
  ms: Math.round(warm.ms),
  content_requests: content(warm.stats),
  requests: warm.stats.total,
  graphql_points: warm.stats.graphql_points ?? 0,
  state: warm.job.state,
};
log(`warm unchanged: ${warmUnchanged.ms} ms, ${warmUnchanged.content_requests} content requests → ${warm.job.state}`);

await control("push", { owner: "yungryce", repo: "monty", readme: "# monty\nchanged for the benchmark\n" });
await control("push", { owner: "yungryce", repo: "printf", readme: "# printf\nchanged for the benchmark\n" });
const two = await refresh("yungryce");
const warm2 = {
  ms: Math.round(two.ms),
  content_requests: content(two.stats),
  synced: two.job.progress.total,
  requests: two.stats.total,
  graphql_points: two.stats.graphql_points ?? 0,
  state: two.job.state,
};
log(
  `warm 2 changed: ${warm2.ms} ms, ${warm2.synced} synced, ${warm2.content_requests} content requests → ${two.job.state}`,
);

const coldSindre = await coldRefresh("sindresorhus", 2);
await roles.stop();

/** The same workers over REST (GITHUB_API=rest), for comparison. */
const restCtx = await createContext(loadConfig({ ...env, GITHUB_API: "rest" }), {
  log: createLogger("silent"),
  redis: ctx.redis,
  jobs: ctx.jobs,
  store: ctx.store,
});
await wipe();
const restRoles = startRoles(restCtx, ROLES.filter((r) => r !== "notify"));
const restColdSindre = await coldRefresh("sindresorhus", 2, "cold (REST)");

/** A generated fixture user of BIG repositories (scripts/fixtures/generated-users.ts). */
const bigUser = `gen-${BIG}`;
let restBig, gqlBig;
if (!QUICK) {
  await wipe();
  restBig = await coldRefresh(bigUser, Math.ceil(BIG / 100), "cold (REST)");
}
await restRoles.stop();
if (!QUICK) {
  await wipe();
  const bigRoles = startRoles(ctx, ROLES.filter((r) => r !== "notify"));
  gqlBig = await coldRefresh(bigUser, Math.ceil(BIG / 100), "cold (GraphQL)");
  await bigRoles.stop();
}

// ---- queue throughput: foliosync pipeline layer vs raw bee-queue ----
const CONC = 32;
async function rawBeeQueue(n: number): Promise<number> {
  const q = new BeeQueue("rawbench", {
    prefix: "bench",
    redis: { url: redis.url },
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
    removeOnSuccess: true,
  });
  await q.ready();
  const jobs = Array.from({ length: n }, () => q.createJob({}));
  await q.saveAll(jobs);
  let done = 0;
  const t = performance.now();
  await new Promise<void>((resolve) => {
    q.process(CONC, () => {
      if (++done === n) resolve();
      return Promise.resolve();
    });
  });
  const rate = n / ((performance.now() - t) / 1000);
  await q.close();
  return rate;
}
let pipelineRuns = 0;
async function pipelineLayer(n: number): Promise<number> {
  const user = `bench-user-${++pipelineRuns}`;
  const { job } = await ctx.jobs.requestRefresh({ username: user });
  await ctx.jobs.setState(job.job_id, user, "planning");
  const syncs = Array.from(
    { length: n },
    (_, i) => ({ job_id: job.job_id, username: user, repo: `r${i}`, fingerprint: "f", github: {} }),
  );
  await ctx.jobs.startSync(job.job_id, user, syncs);
  const q = createQueue(cfg, "sync", true);
  await q.ready();
  let done = 0;
  const t = performance.now();
  await new Promise<void>((resolve) => {
    q.process(CONC, async (j: BeeQueue.Job<{ job_id: string; repo: string }>) => {
      await ctx.jobs.markRepoDone(j.data.job_id, user, j.data.repo, "completed");
      if (++done === n) resolve();
    });
  });
  const rate = n / ((performance.now() - t) / 1000);
  await q.close();
  return rate;
}
if (!QUICK) await rawBeeQueue(2000); // warm up
// Alternate the two, three rounds each, and take medians: the machine is shared and noisy.
const raws: number[] = [];
const pipes: number[] = [];
for (let round = 0; round < (QUICK ? 0 : 3); round++) {
  raws.push(await rawBeeQueue(JOBS));
  pipes.push(await pipelineLayer(JOBS));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const raw = median(raws);
const pipe = median(pipes);
if (!QUICK) {
  log(`  rounds: raw ${raws.map(Math.round).join(", ")}; pipeline ${pipes.map(Math.round).join(", ")} jobs/s`);
  log(
    `queue throughput (${JOBS} jobs, concurrency ${CONC}): pipeline ${Math.round(pipe)} jobs/s, raw bee-queue ${
      Math.round(raw)
    } jobs/s (${(pipe / raw).toFixed(2)}×)`,
  );
}

const result = {
  first_refresh_in_process_ms: Math.round(firstEver.ms),
  cold_yungryce: coldYungryce,
  cold_yungryce_rounds_ms: coldRounds.map((r) => r.ms),
  warm_unchanged: warmUnchanged,
  warm_2_changed: warm2,
  cold_sindresorhus: coldSindre,
  rest_cold_sindresorhus: restColdSindre,
  ...(QUICK ? {} : {
    [`cold_${BIG}_repos`]: gqlBig,
    [`rest_cold_${BIG}_repos`]: restBig,
    pipeline_jobs_per_s: Math.round(pipe),
    raw_bee_queue_jobs_per_s: Math.round(raw),
  }),
};
ctx.redis.disconnect();
await gh.stop();
await redis.stop();
rmSync(storageDir, { recursive: true, force: true });
console.log(JSON.stringify(result));
process.exit(0);
