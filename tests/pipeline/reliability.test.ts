import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { mergesOf, type Stack, startStack } from "../support/pipeline.ts";
import { startProcess, waitForOutput } from "../support/process.ts";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** The same tests over REST (no token) and over GraphQL (a token configured). */
const PATHS = [
  { name: "REST", graphql: false, env: {} as Record<string, string> },
  { name: "GraphQL", graphql: true, env: { GITHUB_TOKEN: "fixture-token-reliability" } as Record<string, string> },
];

/** The file contents plan fetched over GraphQL for the sync jobs, gone (as when they expire). */
async function dropFetchedContents(s: Stack) {
  const keys = await s.ctx.redis.keys(`${s.cfg.QUEUE_PREFIX}:github:blob:*`);
  expect(keys.length).toBeGreaterThan(0);
  await s.ctx.redis.del(...keys);
}

/** The refresh took the path under test: GraphQL only, or REST only. */
async function expectPath(s: Stack, path: (typeof PATHS)[number]) {
  const st = await s.github.stats();
  if (path.graphql) {
    expect(st.graphql).toBeGreaterThan(0);
    expect(st.total).toBe(st.graphql);
  } else expect(st.graphql).toBe(0);
}

describe.each(PATHS)("over $name: crashes and quiet changes", (path) => {
  test("a sync worker SIGKILLed mid-sync: another finishes the job, merge exactly once", async () => {
    // Plan syncs no repo itself here (SYNC_IN_PLAN_MAX=0): every repo goes through a sync job.
    stack = await startStack({ env: { ...path.env, SYNC_IN_PLAN_MAX: "0" }, fixture: { latencyMs: 150 } });
    await stack.startWorkers(["plan", "merge"]);
    const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
    await stack.waitFor(job.job_id, ["syncing"]);
    // Over GraphQL plan has fetched every file already, and a sync makes no request: with those contents
    // gone (expired), each sync job fetches its own files, so the worker is killed while jobs are on the wire.
    if (path.graphql) await dropFetchedContents(stack);
    const child = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", "sync"], {
      cwd: repoRoot,
      env: { ...process.env, ...stack.env, SYNC_CONCURRENCY: "4" },
    });
    await waitForOutput(child, /worker ready/);
    // Kill it once some repos are done and others are in flight: the worker
    // takes its jobs in rounds, so between two rounds nothing is active.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const j = await stack.jobs.get(job.job_id);
      const active = await stack.ctx.redis.llen(queueKey("fs", "sync", "active"));
      if ((j?.progress.completed ?? 0) >= 4 && active > 0) break;
      if (Date.now() > deadline) throw new Error(`no progress: ${child.output()}`);
      await Bun.sleep(20);
    }
    child.kill("SIGKILL");
    await child.exited;
    const mid = await stack.jobs.get(job.job_id);
    expect(mid!.state).toBe("syncing");
    expect(mid!.progress.completed).toBeLessThan(48);
    expect(await stack.ctx.redis.llen(queueKey("fs", "sync", "active"))).toBeGreaterThan(0);
    // A new worker picks up the waiting jobs and, via stall detection, the ones the dead worker held.
    await stack.startWorkers(["sync"]);
    const done = await stack.waitFor(job.job_id, ["completed"], 90_000);
    expect(done.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    expect(await mergesOf(stack, job.job_id)).toBe(1);
    expect((await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.length).toBe(48);
    await expectPath(stack, path);
  }, 120_000);

  test(
    "force_refresh after a file changed while GitHub's fields did not: the new content is published and trained",
    async () => {
      stack = await startStack({ env: path.env });
      await stack.startWorkers();
      expect((await stack.refresh("yungryce")).state).toBe("completed");
      const before = (await readCurrentBundle(stack.ctx.store, "yungryce"))!;
      await stack.github.setFile("yungryce", "monty", "README.md", "# quietly changed\n", false);
      // GitHub's fields did not move: a plain refresh has nothing to do.
      expect((await stack.refresh("yungryce")).state).toBe("fresh");
      const job = await stack.refresh("yungryce", { force_refresh: true });
      expect(job.state).toBe("completed");
      expect(job.message).toContain("training queued");
      const after = (await readCurrentBundle(stack.ctx.store, "yungryce"))!;
      expect(after.bundle.repos.find((r) => r.name === "monty")!.readme).toBe("# quietly changed\n");
      expect(after.bundle.repos.length).toBe(48);
      expect(after.pointer.fingerprint).not.toBe(before.pointer.fingerprint);
      expect(job.bundle_fingerprint).toBe(after.pointer.fingerprint);
      // The training queued is for the content now served, so it is not skipped as superseded.
      const pending = JSON.parse((await stack.ctx.redis.get(stack.jobs.keys.trainPending("yungryce")))!);
      expect(pending.content_fingerprint).toBe(after.pointer.content_fingerprint);
      expect(pending.bundle_key).toBe(after.pointer.key);
      // And the bundle is current again for a plain refresh.
      const again = await stack.refresh("yungryce");
      expect(again.state).toBe("fresh");
      expect(again.bundle_fingerprint).toBe(after.pointer.fingerprint);
      await expectPath(stack, path);
    },
    120_000,
  );
});

describe("exactly once under duplicates, crashes and faults", () => {
  test("every sync job delivered twice: completes, merge runs exactly once, no repo missing", async () => {
    stack = await startStack();
    await stack.startWorkers(["plan", "merge"]);
    const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
    await stack.waitFor(job.job_id, ["syncing"]);
    // Duplicate every queued sync job under a second bee-queue id (a redelivery).
    const r = stack.ctx.redis;
    const ids = await r.lrange(queueKey("fs", "sync", "waiting"), 0, -1);
    expect(ids.length).toBe(48);
    for (const id of ids) {
      const data = await r.hget(queueKey("fs", "sync", "jobs"), id);
      await r.hset(queueKey("fs", "sync", "jobs"), `${id}:dup`, data!);
      await r.lpush(queueKey("fs", "sync", "waiting"), `${id}:dup`);
    }
    await stack.startWorkers(["sync"]);
    await stack.startWorkers(["sync"]); // two consumers racing
    const done = await stack.waitFor(job.job_id, ["completed"]);
    await Bun.sleep(300); // let any (wrong) second merge show itself
    expect(done.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    expect(await mergesOf(stack, job.job_id)).toBe(1);
    expect((await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.length).toBe(48);
  });

  test("fixture --fail-rate 0.3: the job completes with every repo", async () => {
    stack = await startStack({ fixture: { failRate: 0.3, seed: 7 } });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    expect(s.failed_injected).toBeGreaterThan(10);
    expect((await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.length).toBe(48);
  }, 120_000);

  test("rate limit exhausted: the job waits for the reset and completes, without a burst while waiting", async () => {
    const maxInFlight = 8;
    stack = await startStack({
      fixture: { rateLimit: 60, rateWindowS: 2 },
      env: { GITHUB_MAX_INFLIGHT: String(maxInFlight) },
    });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    // 241 requests at 60 per 2 s window: at least 4 windows were waited out.
    expect(s.served).toBeGreaterThanOrEqual(241);
    expect(s.rate_limited_windows).toBeGreaterThanOrEqual(1);
    // Only requests already on the wire when the quota ran out are refused (at most GITHUB_MAX_INFLIGHT
    // in any one window); the first refusal pauses every further request until the reset. A client
    // that kept asking while waiting would be refused again and again within the same window.
    expect(s.max_rate_limited_per_window).toBeLessThanOrEqual(maxInFlight);
    expect(s.rate_limited).toBeLessThanOrEqual(s.rate_limited_windows * maxInFlight);
  }, 120_000);

  test(
    "a repo that fails for good counts as failed, goes to the DLQ, and the merge keeps its previous record",
    async () => {
      stack = await startStack({ env: { JOB_RETRIES: "0" } });
      await stack.startWorkers();
      expect((await stack.refresh("yungryce")).state).toBe("completed");
      const before = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
      await stack.github.push("yungryce", "monty", { readme: "# changed\n" });
      await stack.workers!.stop();
      const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
      const planOnly = await stack.startWorkers(["plan"]);
      await stack.waitFor(job.job_id, ["syncing"]);
      await planOnly.stop();
      await stack.github.config({ fail_rate: 1 });
      await stack.startWorkers(["sync", "merge"]);
      const done = await stack.waitFor(job.job_id, ["completed", "failed"]);
      expect(done.state).toBe("completed");
      expect(done.progress).toMatchObject({ total: 1, completed: 0, failed: 1, percentage: 100 });
      const dlq = await stack.jobs.dlqList();
      expect(dlq.length).toBe(1);
      expect(dlq[0].queue).toBe("sync");
      expect(dlq[0].error).toContain("502");
      const after = (await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle;
      expect(after.repos.length).toBe(48);
      expect(after.repos.find((r) => r.name === "monty")!.readme).toBe(
        before.repos.find((r) => r.name === "monty")!.readme,
      );
      // Replay from the DLQ once GitHub is healthy again: the repo syncs.
      await stack.github.config({ fail_rate: 0 });
      expect(await stack.jobs.dlqReplay(dlq[0])).toBe(true);
      expect(await stack.jobs.dlqDepth()).toBe(0);
    },
    60_000,
  );
});

describe("nothing lost (issue 17): content identity, limits, watchdog, stalls", () => {
  test("a bundle over MAX_BUNDLE_BYTES fails the job with the reason and leaves no current bundle", async () => {
    stack = await startStack({ env: { MAX_BUNDLE_BYTES: "20000" } });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("failed");
    expect(job.error).toMatch(/^bundle of 48 repos is \d+ bytes, over the limit of 20000 bytes \(MAX_BUNDLE_BYTES\)$/);
    expect(job.error_code).toBe("limit_exceeded");
    expect(await readCurrentBundle(stack.ctx.store, "yungryce")).toBeNull();
    expect(await stack.jobs.dlqDepth()).toBe(0);
    // The user is not blocked: the next request is a new job.
    expect((await stack.jobs.requestRefresh({ username: "yungryce" })).created).toBe(true);
  }, 120_000);

  test("the workers' watchdog fails a job that stopped moving (its sync jobs lost), callbacks told", async () => {
    stack = await startStack({ env: { JOB_STUCK_MS: "1500" } });
    await stack.startWorkers(["plan"]);
    const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
    await stack.jobs.registerCallback(job.job_id, "ip:192.0.2.1", "http://127.0.0.1:9/cb", job);
    await stack.waitFor(job.job_id, ["syncing"]);
    // The sync jobs are lost (e.g. a Redis restored from an older snapshot).
    await stack.ctx.redis.del(queueKey("fs", "sync", "waiting"), queueKey("fs", "sync", "jobs"));
    await stack.startWorkers(["sync", "merge"]);
    const failed = await stack.waitFor(job.job_id, ["failed"], 30_000);
    expect(failed.error).toMatch(/no progress for \d+ s while syncing: failed by the watchdog/);
    expect(failed.error_code).toBe("stuck");
    expect(await stack.ctx.redis.exists(stack.jobs.keys.lock("yungryce"))).toBe(0);
    // Its callback receiver hears about it like any other state change.
    expect(await stack.jobs.callbacks.pendingStates(job.job_id, "ip:192.0.2.1")).toContain("failed");
  }, 60_000);

  test(
    "a merge whose worker dies every time is dead-lettered as stalled after MAX_STALLS, not redelivered forever",
    async () => {
      stack = await startStack({ env: { MAX_STALLS: "2" } });
      await stack.startWorkers(["plan", "sync"]);
      const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
      await stack.waitFor(job.job_id, ["merging"]);
      const r = stack.ctx.redis;
      const mergeId = `${job.job_id}:merge`;
      // Two deliveries of the merge that never finished: their process died holding it.
      expect(await stack.jobs.beginDelivery("merge", mergeId)).toBe(0);
      expect(await stack.jobs.beginDelivery("merge", mergeId)).toBe(1);
      expect(await r.hexists(queueKey("fs", "merge", "jobs"), mergeId)).toBe(1);
      await stack.startWorkers(["merge"]);
      const failed = await stack.waitFor(job.job_id, ["failed"], 30_000);
      expect(failed.error).toBe("merge failed: stalled: the worker holding it died or hung 2 times (MAX_STALLS=2)");
      expect(failed.error_code).toBe("stalled");
      const dlq = await stack.jobs.dlqList();
      expect(dlq.map((e) => [e.queue, e.bee_job_id, e.job_id])).toEqual([["merge", mergeId, job.job_id]]);
      expect(dlq[0].error).toMatch(/^stalled: /);
      expect(await mergesOf(stack, job.job_id)).toBe(0);
      expect(await readCurrentBundle(stack.ctx.store, "yungryce")).toBeNull();
    },
    60_000,
  );
});
