/**
 * Redis SIGKILLed mid-refresh and restarted, with AOF (appendonly yes,
 * appendfsync everysec, as production runs it) and without persistence,
 * while worker processes and the gateway keep running, over GraphQL (a token)
 * and REST. Every user has a complete bundle before the fault; a forced
 * refresh of each (one README changed) is under way when Redis dies.
 * Throughout, the gateway serves every user a complete bundle (the previous
 * one or the new one). With AOF every accepted refresh ends completed or
 * failed with a reason, none stays in flight, no merge runs twice; without
 * persistence the job records go with Redis (what is lost is listed in
 * RELIABILITY.md), none of the jobs still known stays in flight, and the next
 * refresh of each user rebuilds from storage and GitHub: a complete bundle
 * with the changed README, served.
 * npm test: AOF over GraphQL; npm run test:reliability: both variants on both paths.
 */
import { afterEach, expect, test } from "bun:test";
import { loadConfig } from "../../shared/config.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { FINAL_STATES } from "../../shared/schemas/job.ts";
import { createStore } from "../../shared/storage/index.ts";
import { startGateway } from "../support/gateway.ts";
import {
  apiEnv,
  type ApiPath,
  assertNothingLost,
  expectPathTaken,
  FULL,
  type KillableRedis,
  pathsFor,
  scenarioWorld,
  sleep,
  startKillableRedis,
  waitAllFinal,
  watchServedBundles,
  type WorkerProc,
  workerProcess,
} from "./support.ts";

const REPOS: Record<string, number> = { yungryce: 48, sindresorhus: 120, "gen-150-rc": 150, "gen-300-rc": 300 };
const users = FULL ? Object.keys(REPOS) : ["yungryce", "gen-150-rc"];
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/**
 * The DLQ entries this fault can produce: none. The steps' Redis client
 * holds its commands while Redis is down (maxRetriesPerRequest: null) instead
 * of failing them; a bee-queue command cut by the kill (a job's completion, a
 * lock renewal) at worst redelivers that job once, far from MAX_STALLS, as no
 * worker process dies; a step for a job that is gone or already final (failed
 * by the watchdog) is a no-op. Any entry is a finding.
 */
const explainDlq = () => false;

const variants: { aof: boolean; path: ApiPath }[] = FULL
  ? [true, false].flatMap((aof) => pathsFor("graphql").map((path) => ({ aof, path })))
  : [{ aof: true, path: "graphql" }];

for (const { aof, path } of variants) {
  test(
    `Redis SIGKILLed mid-refresh and restarted (${aof ? "AOF, appendfsync everysec" : "no persistence"}; ${path})`,
    async () => {
      const redis: KillableRedis = await startKillableRedis({ aof });
      cleanup.push(() => redis.stop());
      const world = await scenarioWorld(cleanup, redis.url, { name: "rc", fixture: { latencyMs: 40 } });
      const { github } = world;
      const env = {
        ...world.env,
        JOB_STUCK_MS: "6000",
        LOG_LEVEL: "error",
        ...apiEnv(path),
      };
      const worker: WorkerProc = workerProcess("plan,sync,merge,notify", env);
      const [, gw] = await Promise.all([worker.start(), startGateway({ env })]);
      cleanup.push(() => worker.stop());
      cleanup.push(() => gw.stop());
      const jobs = new JobStore(redis.client(), { jobStuckMs: 6000 });
      const store = await createStore(loadConfig(env));
      cleanup.push(async () => await store.close?.());
      const expectRepos = Object.fromEntries(users.map((u) => [u, REPOS[u]]));

      // Before the fault every user has a complete bundle: the one that must keep serving.
      const first = await Promise.all(users.map(async (u) => (await jobs.requestRefresh({ username: u })).jobId));
      for (const [, j] of await waitAllFinal(jobs, first, 120_000)) expect(j!.state).toBe("completed");
      const served = watchServedBundles(gw.url, expectRepos);
      cleanup.push(() => served.stop());

      // One README changes per user; forced refreshes re-sync every repo.
      const changed: Record<string, string> = {};
      for (const u of users) {
        changed[u] = (await firstRepo(github.url, u))!;
        await github.push(u, changed[u], { readme: `# changed before the crash (${u})\n` });
      }
      const ids = await Promise.all(
        users.map(async (u) => (await jobs.requestRefresh({ username: u, force_refresh: true })).jobId),
      );
      // Kill once the refreshes are well under way (some repos counted, not all).
      const deadline = Date.now() + 60_000;
      let inFlightAtKill = 0;
      for (;;) {
        const js = await Promise.all(ids.map((id) => jobs.get(id)));
        const done = js.reduce((n, j) => n + (j?.progress.completed ?? 0), 0);
        if (done >= 30) {
          inFlightAtKill = js.filter((j) => j && !FINAL_STATES.has(j.state)).length;
          break;
        }
        if (Date.now() > deadline) throw new Error(`no progress: ${worker.proc.output().slice(-2000)}`);
        await sleep(20);
      }
      await redis.kill();
      await sleep(1000);
      await redis.start();

      const results = await waitAllFinal(jobs, ids, 90_000);
      const summary = await assertNothingLost({
        jobs,
        store,
        results,
        expectRepos: (u) => REPOS[u.toLowerCase()],
        redisLost: !aof,
        explainDlq,
      });
      console.log(
        JSON.stringify({
          scenario: `redis-sigkill-${aof ? "aof" : "no-persistence"}`,
          path,
          users,
          in_flight_at_kill: inFlightAtKill,
          ...summary,
        }),
      );
      // The fault landed mid-refresh.
      expect(inFlightAtKill).toBeGreaterThan(0);
      if (aof) expect(summary.lost).toBe(0);
      // A job fails here only by the watchdog: a step written in the last second before the kill is lost,
      // the job cannot reach its total. The reason names the seconds without a sign of life (≥ JOB_STUCK_MS).
      for (const r of summary.reasons) {
        const m = r.match(/^stuck: no progress for (\d+) s while (planning|syncing|merging): failed by the watchdog$/);
        expect(m).not.toBeNull();
        expect(Number(m![1])).toBeGreaterThanOrEqual(6);
      }

      // Every user refreshes again (the rebuild, without persistence): a complete bundle with the changed README.
      const again = await Promise.all(users.map(async (u) => (await jobs.requestRefresh({ username: u })).jobId));
      const second = await waitAllFinal(jobs, again, 120_000);
      for (const [, j] of second) expect(["completed", "fresh"]).toContain(j!.state);
      await served.stop();
      for (const u of users) {
        const res = await fetch(`${gw.url}/api/bundles/${u}`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { data: { name: string; readme: string | null }[] };
        expect(body.data.length).toBe(REPOS[u]);
        expect(body.data.find((r) => r.name === changed[u])!.readme).toBe(`# changed before the crash (${u})\n`);
      }
      // The previous bundle (or the new one) was served, complete, throughout.
      console.log(
        JSON.stringify({
          scenario: "served-during-redis-crash",
          reads: served.reads(),
          failures: served.failures.length,
        }),
      );
      expect(served.failures).toEqual([]);
      expect(served.reads()).toBeGreaterThan(users.length * 10);
      expectPathTaken(path, await github.stats());
    },
    300_000,
  );
}

async function firstRepo(url: string, user: string): Promise<string | undefined> {
  const res = await fetch(`${url}/users/${user}/repos?per_page=1`);
  return ((await res.json()) as { name: string }[])[0]?.name;
}
