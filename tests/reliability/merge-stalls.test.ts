/**
 * A merge that kills its worker on every delivery, with the default
 * MAX_STALLS: the merge worker process is SIGKILLed on each delivery of one
 * job's merge and restarted, as a supervisor would after an OOM kill. After
 * MAX_STALLS deliveries that never finished, the next one is not run: the
 * merge is dead-lettered as stalled, the job fails with error_code
 * `stalled`, the user's lock is released (the next refresh completes), and
 * the other refreshes in flight meanwhile lose nothing. Over GraphQL (a
 * token).
 *
 * So that each kill lands while the merge runs (not before it, not after it
 * finished), one of the user's repo records is replaced by a FIFO before the
 * merge is first delivered: reading it blocks until the process dies. The
 * record is put back after the last kill. Each kill also lands on another
 * user's merge, held the same way once: that one is redelivered (one stall,
 * under the limit) and completes. (tests/pipeline/reliability.test.ts
 * has the unit-level variant, its stalls written by hand.)
 * npm run test:reliability only: each redelivery waits for bee-queue's stall
 * check (5 s period), about 45 s in all.
 */
import { afterEach, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { loadConfig } from "../../shared/config.ts";
import { JobStore, mergeJobId } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { createStore } from "../../shared/storage/index.ts";
import { stalledReason } from "../../workers/queues.ts";
import { startRedis } from "../support/redis.ts";
import {
  apiEnv,
  assertNothingLost,
  expectPathTaken,
  FULL,
  scenarioWorld,
  sleep,
  waitAllFinal,
  workerProcess,
} from "./support.ts";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

const TARGET = "yungryce";
/** One refresh per kill, its merge running in the killed process when the kill lands. */
const OTHERS: Record<string, number> = { sindresorhus: 120, "gen-150-ms": 150, "gen-75-ms": 75 };
const REPOS: Record<string, number> = { [TARGET]: 48, ...OTHERS };

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test.skipIf(!FULL)(
  "the merge worker SIGKILLed on every delivery of one merge (default MAX_STALLS): dead-lettered as stalled, job failed, lock released, nothing else lost",
  async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const world = await scenarioWorld(cleanup, redis.url, { name: "stalls", fixture: { latencyMs: 20 } });
    const { storageDir, github } = world;
    // MAX_STALLS is not set: the default is under test.
    const env = { ...world.env, LOG_LEVEL: "error", ...apiEnv("graphql") };
    const maxStalls = loadConfig(env).MAX_STALLS;
    expect(maxStalls).toBe(3);
    const steps = workerProcess("plan,sync,notify", env);
    // Each held read occupies a thread of the runtime's file-I/O pool (as many threads as cores by default):
    // a larger pool keeps the merge process's other reads going while two are held.
    const merger = workerProcess("merge", { ...env, UV_THREADPOOL_SIZE: "8" });
    cleanup.push(() => Promise.all([steps.stop(), merger.stop()]));
    await steps.start();
    const r = redis.client();
    const jobs = new JobStore(r);
    const store = await createStore(loadConfig(env));
    cleanup.push(async () => await store.close?.());

    /** Replaces one of the user's records by a FIFO: a merge reading it blocks until its process dies. */
    const hold = (user: string) => {
      const dir = join(storageDir, "repos", user);
      const path = join(dir, readdirSync(dir).filter((f) => f.endsWith(".json")).sort()[0]);
      const bytes = readFileSync(path);
      unlinkSync(path);
      execFileSync("mkfifo", [path]);
      return () => {
        unlinkSync(path);
        writeFileSync(path, bytes);
      };
    };
    const deliveries = async (id: string) => Number(await r.get(jobs.keys.deliveries("merge", mergeJobId(id))));
    const active = async () => (await r.lrange(queueKey("fs", "merge", "active"), 0, -1)).sort();
    const merging = (id: string) => until("merging", async () => (await jobs.get(id))?.state === "merging", 60_000);

    const t0 = Date.now();
    // The target's repos are synced; its merge waits for a merge worker.
    const { jobId } = await jobs.requestRefresh({ username: TARGET });
    await merging(jobId);
    const releaseTarget = hold(TARGET);
    const ids = [jobId];
    const atKills: { kill: number; at_s: number; other: string }[] = [];
    for (let kill = 1; kill <= maxStalls; kill++) {
      // Another user's refresh, synced while no merge worker runs; its merge is held too, so that this kill
      // lands on it as well: the process's other work, taken down with it.
      const other = Object.keys(OTHERS)[kill - 1];
      const otherId = (await jobs.requestRefresh({ username: other })).jobId;
      ids.push(otherId);
      await merging(otherId);
      const releaseOther = hold(other);
      await merger.start();
      // The target merge's delivery number `kill` and the other's first are both running (blocked on their
      // held records), and nothing else is.
      await until(`delivery ${kill} of the merge`, async () => {
        return (await deliveries(jobId)) === kill && (await deliveries(otherId)) === 1 &&
          JSON.stringify(await active()) === JSON.stringify([mergeJobId(jobId), mergeJobId(otherId)].sort());
      }, 60_000).catch(async (err) => {
        const lists = await Promise.all(
          (["waiting", "active", "stalling"] as const).map((l) =>
            l === "stalling" ? r.smembers(queueKey("fs", "merge", l)) : r.lrange(queueKey("fs", "merge", l), 0, -1)
          ),
        );
        throw new Error(
          `${(err as Error).message}: deliveries ${await deliveries(jobId)}/${await deliveries(
            otherId,
          )}, waiting/active/stalling ${JSON.stringify(lists)}; ${merger.proc.output().slice(-1500)}`,
        );
      });
      atKills.push({ kill, at_s: Math.round((Date.now() - t0) / 100) / 10, other });
      await merger.kill();
      releaseOther();
      if (kill === maxStalls) releaseTarget();
    }
    await merger.start();

    // Delivery MAX_STALLS + 1 is not run: dead-lettered, the job failed.
    const failed = (await waitAllFinal(jobs, [jobId], 120_000)).get(jobId)!;
    const failedAt = Date.now();
    const reason = stalledReason(maxStalls, maxStalls);
    expect(failed.state).toBe("failed");
    expect(failed.error_code).toBe("stalled");
    expect(failed.error).toBe(`merge failed: ${reason}`);
    expect(await deliveries(jobId)).toBe(0);
    const dlq = await jobs.dlqList();
    expect(dlq.map((e) => [e.queue, e.bee_job_id, e.job_id, e.error])).toEqual([[
      "merge",
      mergeJobId(jobId),
      jobId,
      reason,
    ]]);
    expect(await readCurrentBundle(store, TARGET)).toBeNull();
    expect(await r.exists(jobs.keys.lock(TARGET))).toBe(0);

    // The lock is released: a new refresh is a new job, and it completes with every repo.
    const next = await jobs.requestRefresh({ username: TARGET });
    expect(next.created).toBe(true);
    ids.push(next.jobId);
    const all = await waitAllFinal(jobs, ids, 120_000);
    expect(all.get(next.jobId)!.state).toBe("completed");
    for (const id of ids.slice(1, -1)) expect(all.get(id)!.state).toBe("completed");
    const summary = await assertNothingLost({
      jobs,
      store,
      results: all,
      expectRepos: (u) => REPOS[u.toLowerCase()],
      // The one entry: the target's merge, stalled MAX_STALLS times.
      explainDlq: (e) => e.queue === "merge" && e.job_id === jobId && e.error === reason,
    });
    console.log(
      JSON.stringify({
        scenario: "merge-killed-every-delivery",
        max_stalls: maxStalls,
        merge_starts: merger.starts,
        failed_at_s: Math.round((failedAt - t0) / 100) / 10,
        at_kills: atKills,
        ...summary,
      }),
    );
    expect(summary).toMatchObject({ completed: 4, failed: 1, lost: 0, dlq: 1 });
    expectPathTaken("graphql", await github.stats());
  },
  300_000,
);
