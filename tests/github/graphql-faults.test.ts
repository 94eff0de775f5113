/**
 * What the pipeline tests prove over REST, over GraphQL too: duplicate
 * deliveries, injected 5xx, a spent quota, a growing user.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { MAX_SYNC_BATCH } from "../../shared/schemas/job.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

const TOKEN = { GITHUB_TOKEN: "fixture-token-faults" };
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe("GraphQL path under duplicates and faults", () => {
  test("every sync job delivered twice: completes, merge runs exactly once, no repo missing", async () => {
    stack = await startStack({ env: TOKEN });
    await stack.startWorkers(["plan", "merge"]);
    const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
    await stack.waitFor(job.job_id, ["syncing"]);
    const r = stack.ctx.redis;
    const ids = await r.lrange(queueKey("fs", "sync", "waiting"), 0, -1);
    const repos: { graphql?: unknown }[] = [];
    for (const id of ids) {
      const data = await r.hget(queueKey("fs", "sync", "jobs"), id);
      // The GraphQL path's repos go MAX_SYNC_BATCH to a job.
      const msg = JSON.parse(data!).data as { repos?: { graphql?: unknown }[]; graphql?: unknown };
      repos.push(...(msg.repos ?? [msg]));
      await r.hset(queueKey("fs", "sync", "jobs"), `${id}:dup`, data!);
      await r.lpush(queueKey("fs", "sync", "waiting"), `${id}:dup`);
    }
    expect(ids.length).toBe(Math.ceil(48 / MAX_SYNC_BATCH));
    expect(repos.length).toBe(48);
    for (const m of repos) expect(m.graphql).toBeDefined(); // the GraphQL path's messages
    await stack.startWorkers(["sync"]);
    await stack.startWorkers(["sync"]);
    const done = await stack.waitFor(job.job_id, ["completed"]);
    expect(done.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    expect(Number(await r.get(stack.jobs.keys.counter(`merge:${job.job_id}`)))).toBe(1);
    expect((await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.length).toBe(48);
    expect((await stack.github.stats()).list).toBe(0); // no REST listing
  }, 60_000);

  test("fixture --fail-rate 0.5: the job completes with every repo", async () => {
    stack = await startStack({ env: TOKEN, fixture: { failRate: 0.5, seed: 7 } });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    expect(s.graphql).toBeGreaterThan(0);
    expect(s.failed_injected).toBeGreaterThan(0);
    expect(s.list).toBe(0);
    expect((await readCurrentBundle(stack.ctx.store, "yungryce"))!.bundle.repos.length).toBe(48);
  }, 120_000);

  test("GraphQL points spent: the job waits for the reset and completes", async () => {
    stack = await startStack({ env: TOKEN, fixture: { rateLimit: 3, rateWindowS: 3 } });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    expect(s.graphql_points).toBeGreaterThan(3); // more than one window's worth
    expect(s.list).toBe(0);
    expect(await stack.jobs.dlqDepth()).toBe(0);
  }, 120_000);

  test("a generated user of 250 repositories: three listing queries, every repo bundled", async () => {
    stack = await startStack({ env: TOKEN });
    await stack.startWorkers();
    const job = await stack.refresh("gen-250", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 250, completed: 250, failed: 0 });
    const s = await stack.github.stats();
    expect(s.total).toBe(s.graphql);
    expect(s.total).toBeLessThanOrEqual(3 + 4);
    expect((await readCurrentBundle(stack.ctx.store, "gen-250"))!.bundle.repos.length).toBe(250);
  }, 120_000);
});
