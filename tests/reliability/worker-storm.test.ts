/**
 * Worker storms: the plan, sync and merge processes are SIGKILLed at random
 * every 200–500 ms (and restarted) during concurrent refreshes of fixture and
 * generated users, over GraphQL (a token) and REST. Every bundle ends complete
 * and each job merges once. npm test runs a short storm over REST; npm run
 * test:reliability runs 20 refreshes on each path, RELIABILITY_SOAK=1 repeats
 * the storm for minutes.
 */
import { afterEach, expect, test } from "bun:test";
import { loadConfig } from "../../shared/config.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { FINAL_STATES } from "../../shared/schemas/job.ts";
import { createStore } from "../../shared/storage/index.ts";
import { rng } from "../../shared/ranking/hash.ts";
import { startRedis } from "../support/redis.ts";
import {
  apiEnv,
  assertNothingLost,
  expectPathTaken,
  FULL,
  pathsFor,
  scenarioWorld,
  sleep,
  SOAK,
  waitAllFinal,
  workerProcess,
} from "./support.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

function usersFor(n: number): Record<string, number> {
  const out: Record<string, number> = { yungryce: 48, sindresorhus: 120 };
  const sizes = [10, 40, 75, 150, 300];
  for (let i = 0; Object.keys(out).length < n; i++) {
    out[`gen-${sizes[i % sizes.length]}-s${i}`] = sizes[i % sizes.length];
  }
  return out;
}

// npm test's short storm runs over REST (the Redis crash takes GraphQL); the full suite runs both.
for (const path of pathsFor("rest")) {
  test(`worker storm: plan/sync/merge SIGKILLed every 200–500 ms during concurrent refreshes (${path})`, async () => {
    const repos = usersFor(FULL ? 20 : 4);
    const users = Object.keys(repos);
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const world = await scenarioWorld(cleanup, redis.url, { name: "storm", fixture: { latencyMs: 20 } });
    const { github } = world;
    const env = {
      ...world.env,
      // Kills land on the same merge again and again in a storm this dense; the default stall limit is the
      // subject of its own tests (merge-stalls.test.ts with real kills, tests/pipeline/reliability.test.ts).
      MAX_STALLS: "50",
      SYNC_CONCURRENCY: "16",
      LOG_LEVEL: "error",
      ...apiEnv(path),
    };
    const workers = ["plan", "sync", "merge"].map((r) => workerProcess(r, env));
    await Promise.all(workers.map((w) => w.start()));
    cleanup.push(() => Promise.all(workers.map((w) => w.stop())));
    const jobs = new JobStore(redis.client());
    const store = await createStore(loadConfig(env));

    const rounds = SOAK ? 6 : 1;
    let kills = 0;
    for (let round = 0; round < rounds; round++) {
      if (round > 0) {
        for (const u of users) {
          await github.push(u, (await firstRepo(github.url, u))!, { readme: `# round ${round}\n` });
        }
      }
      const ids = await Promise.all(
        users.map(async (u) => (await jobs.requestRefresh({ username: u, force_refresh: round > 0 })).jobId),
      );
      const r = rng(7 + round);
      /** Refreshes still in flight when each kill landed. */
      const inFlightAtKills: number[] = [];
      const stormUntil = Date.now() + (FULL ? 15_000 : 4_000);
      while (Date.now() < stormUntil) {
        await sleep(200 + Math.floor(r() * 300));
        const w = workers[Math.floor(r() * workers.length)];
        inFlightAtKills.push(
          (await Promise.all(ids.map((id) => jobs.get(id)))).filter((j) => j && !FINAL_STATES.has(j.state)).length,
        );
        await w.kill();
        kills++;
        // Restarted by the test, as a supervisor would; not awaited, so the storm keeps its pace.
        w.start().catch(() => {});
      }
      await Promise.all(workers.map(async (w) => {
        if (w.proc.child.exitCode !== null || w.proc.child.signalCode !== null) await w.start();
        else await waitForReady(w);
      }));
      const results = await waitAllFinal(jobs, ids, FULL ? 240_000 : 120_000);
      const summary = await assertNothingLost({
        jobs,
        store,
        results,
        expectRepos: (u) => repos[u.toLowerCase()],
        explainDlq: () => false,
      });
      console.log(JSON.stringify({
        scenario: "worker-storm",
        path,
        round,
        users: users.length,
        kills,
        // Refreshes in flight when the first and the last kill landed.
        in_flight_at_kills: [inFlightAtKills[0], inFlightAtKills[inFlightAtKills.length - 1]],
        ...summary,
      }));
      expect(summary.completed).toBe(users.length);
    }
    expectPathTaken(path, await github.stats());
    await store.close?.();
  }, 600_000);
}

async function waitForReady(w: ReturnType<typeof workerProcess>) {
  const deadline = Date.now() + 60_000;
  while (!/worker ready/.test(w.proc.output())) {
    if (w.proc.child.exitCode !== null || w.proc.child.signalCode !== null) return await w.start();
    if (Date.now() > deadline) throw new Error(`worker ${w.roles} never ready: ${w.proc.output().slice(-1000)}`);
    await sleep(50);
  }
}

async function firstRepo(url: string, user: string): Promise<string | undefined> {
  const res = await fetch(`${url}/users/${user}/repos?per_page=1`);
  return ((await res.json()) as { name: string }[])[0]?.name;
}
