/**
 * Redis SIGKILLed mid-refresh and restarted, with AOF (appendonly yes,
 * appendfsync everysec, as production runs it) and without persistence,
 * while worker processes keep running. With AOF every accepted refresh ends
 * completed or failed with a reason, none stays in flight, no merge runs
 * twice; without persistence the job records go with Redis (what is lost is
 * listed in RELIABILITY.md) but no bundle is ever partial and the next
 * refresh of each user rebuilds from storage and GitHub.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { loadConfig } from "../../shared/config.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { createStore } from "../../shared/storage/index.ts";
import { type FixtureServer, startFixtureServer } from "../support/fixture-server.ts";
import {
  assertNothingLost,
  FULL,
  type KillableRedis,
  sleep,
  startKillableRedis,
  waitAllFinal,
  type WorkerProc,
  workerProcess,
} from "./support.ts";

const REPOS: Record<string, number> = { yungryce: 48, sindresorhus: 120, "gen-150-rc": 150, "gen-300-rc": 300 };
const users = FULL ? Object.keys(REPOS) : ["yungryce", "gen-150-rc"];
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

// The AOF case (production) runs in npm test; without persistence in npm run test:reliability.
for (const aof of FULL ? [true, false] : [true]) {
  test(
    `Redis SIGKILLed mid-refresh and restarted (${aof ? "AOF, appendfsync everysec" : "no persistence"})`,
    async () => {
      const redis: KillableRedis = await startKillableRedis({ aof });
      cleanup.push(() => redis.stop());
      const github: FixtureServer = await startFixtureServer({ latencyMs: 40 });
      cleanup.push(() => github.stop());
      const storageDir = mkdtempSync(join(tmpdir(), "foliosync-rc-"));
      cleanup.push(() => Promise.resolve(rmSync(storageDir, { recursive: true, force: true })));
      const env = {
        REDIS_URL: redis.url,
        GITHUB_API_URL: github.url,
        STORAGE_BACKEND: "local",
        STORAGE_DIR: storageDir,
        JOB_STUCK_MS: "6000",
        LOG_LEVEL: "error",
      };
      const worker: WorkerProc = workerProcess("plan,sync,merge,notify", env);
      await worker.start();
      cleanup.push(() => worker.stop());
      const jobs = new JobStore(redis.client(), { jobStuckMs: 6000 });
      const store = await createStore(loadConfig(env));

      const ids = await Promise.all(users.map(async (u) => (await jobs.requestRefresh({ username: u })).jobId));
      // Kill once the refreshes are well under way (some repos counted, most not).
      const deadline = Date.now() + 60_000;
      for (;;) {
        const js = await Promise.all(ids.map((id) => jobs.get(id)));
        const done = js.reduce((n, j) => n + (j?.progress.completed ?? 0), 0);
        if (done >= 30) break;
        if (Date.now() > deadline) throw new Error(`no progress: ${worker.proc.output().slice(-2000)}`);
        await sleep(50);
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
        // A sync or merge whose job record was failed by the watchdog, or lost with Redis, may end in the DLQ.
        explainDlq: (e) => /no progress|stalled|not found|job/.test(e.error) || !aof,
      });
      console.log(JSON.stringify({ scenario: `redis-sigkill-${aof ? "aof" : "no-persistence"}`, users, ...summary }));
      if (aof) expect(summary.lost).toBe(0);
      else expect(summary.lost + summary.failed).toBeGreaterThan(0);

      // Every user refreshes again: each ends with a complete bundle.
      const again = await Promise.all(users.map(async (u) => (await jobs.requestRefresh({ username: u })).jobId));
      const second = await waitAllFinal(jobs, again, 120_000);
      for (const [, j] of second) expect(["completed", "fresh"]).toContain(j!.state);
      for (const u of users) {
        expect((await readCurrentBundle(store, u))!.bundle.repos.length).toBe(REPOS[u]);
      }
      await store.close?.();
    },
    300_000,
  );
}
