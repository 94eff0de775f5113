import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { type Stack, startStack } from "../support/pipeline.ts";
import { startProcess, waitForOutput } from "../support/process.ts";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const mergesOf = async (s: Stack, jobId: string) =>
  Number(await s.ctx.redis.get(s.jobs.keys.counter(`merge:${jobId}`)));

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

  test("a sync worker SIGKILLed mid-sync: another finishes the job, merge exactly once", async () => {
    stack = await startStack({ fixture: { latencyMs: 150 } });
    await stack.startWorkers(["plan", "merge"]);
    const child = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", "sync"], {
      cwd: repoRoot,
      env: { ...process.env, ...stack.env, SYNC_CONCURRENCY: "4" },
    });
    await waitForOutput(child, /worker ready/);
    const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
    // Kill it once some repos are done and others are in flight.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const j = await stack.jobs.get(job.job_id);
      if ((j?.progress.completed ?? 0) >= 4) break;
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
  }, 120_000);

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
    stack = await startStack({ fixture: { rateLimit: 60, rateWindowS: 2 } });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    // 241 requests at 60 per 2 s window: at least 4 windows were waited out.
    expect(s.served).toBeGreaterThanOrEqual(241);
    // Only requests already in flight when the quota ran out may be refused;
    // a client that kept asking while waiting would be refused thousands of times.
    expect(s.rate_limited).toBeLessThanOrEqual(5 * 100);
    expect(s.rate_limited).toBeLessThan(s.served);
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
