/**
 * Plan syncs the repos whose files it holds (GraphQL path, up to
 * SYNC_IN_PLAN_MAX): no sync job for them, the same records the sync workers
 * write, counted by plan's commit; the rest, and any repo plan cannot store,
 * go to sync jobs; a plan killed half-way leaves nothing counted and its
 * redelivery finishes the job with one merge.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import type { JobState } from "../../shared/schemas/job.ts";
import type { FixtureServerOptions } from "../support/fixture-server.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { bundleOf, comparable, mergesOf, type Stack, startStack } from "../support/pipeline.ts";
import { startProcess, waitForOutput } from "../support/process.ts";

const TOKEN = { GITHUB_TOKEN: "fixture-token-in-plan" };
const stacks: Stack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((s) => s.stop()));
});
async function stackWith(env: Record<string, string>, fixture?: FixtureServerOptions) {
  const s = await startStack({ env: { ...TOKEN, ...env }, fixture });
  stacks.push(s);
  return s;
}

/** Sync jobs not yet done (bee-queue keeps a job's data in its hash until the job succeeds). */
const syncJobsOf = async (s: Stack) => await s.ctx.redis.hkeys(queueKey("fs", "sync", "jobs"));

/** The state changes of every job, in order, as the all-jobs channel carries them. */
async function watchStates(s: Stack): Promise<{ states: Map<string, JobState[]>; stop: () => void }> {
  const sub = s.redis.client();
  const states = new Map<string, JobState[]>();
  await sub.subscribe(`${s.cfg.QUEUE_PREFIX}:events`);
  sub.on("message", (_channel, text) => {
    const j = JSON.parse(text) as { job_id: string; state: JobState };
    states.set(j.job_id, [...(states.get(j.job_id) ?? []), j.state]);
  });
  return { states, stop: () => sub.disconnect() };
}

describe("plan syncs the repos whose files it holds", () => {
  test(
    "cold yungryce without any sync worker: 48 records by plan, no sync job, syncing → merging, one merge",
    async () => {
      const s = await stackWith({});
      const watch = await watchStates(s);
      await s.startWorkers(["plan", "merge"]);
      const job = await s.refresh("yungryce");
      watch.stop();
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
      expect(await syncJobsOf(s)).toEqual([]);
      expect(await mergesOf(s, job.job_id)).toBe(1);
      expect(watch.states.get(job.job_id)).toEqual(["queued", "planning", "syncing", "merging", "completed"]);
      const metrics = await s.ctx.metrics.render(undefined, s.cfg.QUEUE_PREFIX);
      expect(metrics).toContain('foliosync_repo_records_stored_total{by="plan"} 48\n');
      expect(metrics).toContain("foliosync_plan_handovers_total 0\n");
      const b = await bundleOf(s, "yungryce");
      expect(b.repos.length).toBe(48);
      // What the user's hashes remember is written by plan's commit, as the fan-in writes it: a refresh is fresh.
      expect((await s.refresh("yungryce")).state).toBe("fresh");
    },
    60_000,
  );

  test("the records plan writes are byte for byte those the sync workers write (cold, then 2 pushed)", async () => {
    const inPlan = await stackWith({});
    const viaJobs = await stackWith({ SYNC_IN_PLAN_MAX: "0" });
    // No sync worker beside plan: every record of `inPlan` is plan's.
    await Promise.all([inPlan.startWorkers(["plan", "merge"]), viaJobs.startWorkers()]);
    // One push time for both servers: the records compare byte for byte.
    const pushed_at = "2027-01-01T00:00:01Z";
    for (const round of ["cold", "pushed"]) {
      if (round === "pushed") {
        for (const s of [inPlan, viaJobs]) {
          await s.github.push("yungryce", "monty", { readme: "# monty\nchanged\n", pushed_at });
          await s.github.push("yungryce", "printf", { files: { "ARCHITECTURE.md": "# printf\nlayers\n" }, pushed_at });
        }
      }
      const a = await inPlan.refresh("yungryce");
      const b = await viaJobs.refresh("yungryce");
      expect([a.state, b.state]).toEqual(["completed", "completed"]);
      expect(a.progress.total).toBe(round === "cold" ? 48 : 2);
      expect(comparable(await bundleOf(inPlan, "yungryce"))).toBe(comparable(await bundleOf(viaJobs, "yungryce")));
    }
    expect(await syncJobsOf(inPlan)).toEqual([]);
  }, 90_000);

  test("SYNC_IN_PLAN_MAX=10: plan counts 10 repos, the other 38 go to sync jobs, one merge", async () => {
    const s = await stackWith({ SYNC_IN_PLAN_MAX: "10" });
    await s.startWorkers(["plan", "merge"]);
    const { job } = await s.jobs.requestRefresh({ username: "yungryce" });
    const syncing = await s.waitFor(job.job_id, ["syncing"]);
    expect(syncing.progress).toMatchObject({ total: 48, completed: 10, failed: 0 });
    // The 38 others, 8 to a job (MAX_SYNC_BATCH).
    expect((await syncJobsOf(s)).length).toBe(5);
    await s.startWorkers(["sync"]);
    const done = await s.waitFor(job.job_id, ["completed"]);
    expect(done.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    expect(await mergesOf(s, job.job_id)).toBe(1);
    expect((await bundleOf(s, "yungryce")).repos.length).toBe(48);
    const metrics = await s.ctx.metrics.render(undefined, s.cfg.QUEUE_PREFIX);
    expect(metrics).toContain('foliosync_repo_records_stored_total{by="plan"} 10\n');
    expect(metrics).toContain('foliosync_repo_records_stored_total{by="sync"} 38\n');
  }, 60_000);

  test(
    "a record plan cannot store goes on as a sync job of its own (its failure then counts the repo failed)",
    async () => {
      const s = await stackWith({ JOB_RETRIES: "0" });
      // monty's record cannot be stored: a non-empty directory stands where its file goes.
      mkdirSync(join(s.storageDir, "repos", "yungryce", "monty.json", "occupied"), { recursive: true });
      await s.startWorkers();
      const job = await s.refresh("yungryce");
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 48, completed: 47, failed: 1 });
      // Plan handed monty over: the one sync job there was, dead-lettered after its own attempt.
      expect(await s.jobs.dlqDepth()).toBe(1);
      const metrics = await s.ctx.metrics.render(undefined, s.cfg.QUEUE_PREFIX);
      expect(metrics).toContain('foliosync_repo_records_stored_total{by="plan"} 47\n');
      expect(metrics).toContain("foliosync_plan_handovers_total 1\n");
      expect(metrics).not.toContain('foliosync_repo_records_stored_total{by="sync"}');
      expect(await mergesOf(s, job.job_id)).toBe(1);
      const b = await bundleOf(s, "yungryce");
      expect(b.repos.length).toBe(47);
      expect(b.repos.some((r) => r.name === "monty")).toBe(false);
    },
    60_000,
  );

  test(
    "two pages (120 repos) synced by plan page by page: all counted once, one merge, at most 6 queries",
    async () => {
      const s = await stackWith({});
      await s.startWorkers(["plan", "merge"]);
      const job = await s.refresh("sindresorhus", { timeoutMs: 60_000 });
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 120, completed: 120, failed: 0 });
      expect(await mergesOf(s, job.job_id)).toBe(1);
      expect(await syncJobsOf(s)).toEqual([]);
      const st = await s.github.stats();
      // Two listing queries, then the files page by page: at most one query per page more than all at once.
      expect(st.total).toBe(st.graphql);
      expect(st.graphql).toBeLessThanOrEqual(6);
      expect((await bundleOf(s, "sindresorhus")).repos.length).toBe(120);
    },
    60_000,
  );

  test("a GraphQL listing that breaks off after its first page goes on over REST: every repo synced once", async () => {
    const s = await stackWith({});
    await s.startWorkers();
    // GraphQL is gone once the first page is answered: that page's file fetch and the second page get 404s.
    await s.github.afterListing("config", { graphql: false });
    try {
      const job = await s.refresh("sindresorhus", { timeoutMs: 60_000 });
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 120, completed: 120, failed: 0 });
      expect(await mergesOf(s, job.job_id)).toBe(1);
      const st = await s.github.stats();
      expect(st.graphql).toBeGreaterThanOrEqual(2); // the first page, then what GraphQL refused
      expect(st.list).toBeGreaterThan(0); // listed again over REST
      expect(st.readme).toBe(120); // and every repo synced over REST
      expect((await bundleOf(s, "sindresorhus")).repos.length).toBe(120);
      // The next refresh over GraphQL finds every repo as REST stored it.
      await s.github.config({ graphql: true });
      expect((await s.refresh("sindresorhus")).state).toBe("fresh");
    } finally {
      await s.github.config({ graphql: true });
    }
  }, 90_000);

  test(
    "plan SIGKILLed while it stores the records: nothing counted, its redelivery finishes with one merge",
    async () => {
      const s = await stackWith({}, { latencyMs: 50 });
      // A live writer holds monty's record (a lock file naming this process): plan's write of it waits.
      const dir = join(s.storageDir, "repos", "yungryce");
      mkdirSync(dir, { recursive: true });
      const lock = join(dir, ".~monty.json.lock");
      writeFileSync(lock, `${hostname()} ${process.pid} test`);
      const child = startProcess(bunBin, [join(repoRoot, "workers", "main.ts"), "--role", "plan"], {
        cwd: repoRoot,
        env: { ...process.env, ...s.env },
      });
      await waitForOutput(child, /worker ready/);
      const { job } = await s.jobs.requestRefresh({ username: "yungryce" });
      // Killed once every other record is stored and monty's waits.
      const deadline = Date.now() + 30_000;
      const stored = () => readdirSync(dir).filter((f) => f.endsWith(".json")).length;
      while (stored() < 47) {
        if (Date.now() > deadline) throw new Error(`plan stored ${stored()} records: ${child.output()}`);
        await Bun.sleep(10);
      }
      child.kill("SIGKILL");
      await child.exited;
      const mid = await s.jobs.get(job.job_id);
      expect(mid!.state).toBe("planning");
      expect(mid!.progress.completed).toBe(0);
      rmSync(lock);
      // A new plan worker gets the job again (stall detection) and does it all; the merge runs once.
      await s.startWorkers(["plan", "merge"]);
      const done = await s.waitFor(job.job_id, ["completed"], 60_000);
      expect(done.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
      expect(await mergesOf(s, job.job_id)).toBe(1);
      expect(await syncJobsOf(s)).toEqual([]);
      expect((await bundleOf(s, "yungryce")).repos.length).toBe(48);
    },
    90_000,
  );
});
