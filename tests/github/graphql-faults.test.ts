/**
 * What the pipeline tests prove over REST, over GraphQL too: duplicate
 * deliveries, injected 5xx, a spent quota, a growing user; and GitHub
 * changing between a listing and the file fetches after it — a repository
 * deleted (a partial answer: data beside a NOT_FOUND), a README replaced, a
 * repository deleted between plan and sync.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readCurrentBundle } from "../../shared/bundle-store.ts";
import { loadConfig } from "../../shared/config.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { MAX_SYNC_BATCH } from "../../shared/schemas/job.ts";
import { createContext, type WorkerContext } from "../../workers/context.ts";
import { type Role, ROLES, type RunningRoles, startRoles } from "../../workers/roles.ts";
import { bundleOf, capturingLogger, mergesOf, type Stack, startStack } from "../support/pipeline.ts";

const TOKEN = { GITHUB_TOKEN: "fixture-token-faults" };
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe("GraphQL path under duplicates and faults", () => {
  test("every sync job delivered twice: completes, merge runs exactly once, no repo missing", async () => {
    // Plan syncs no repo itself here (SYNC_IN_PLAN_MAX=0): every repo goes through a sync job.
    stack = await startStack({ env: { ...TOKEN, SYNC_IN_PLAN_MAX: "0" } });
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
    expect(await mergesOf(stack, job.job_id)).toBe(1);
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

  test("GraphQL points spent: the job waits for the reset and completes, without a burst while waiting", async () => {
    const maxInFlight = 8;
    stack = await startStack({
      env: { ...TOKEN, GITHUB_MAX_INFLIGHT: String(maxInFlight) },
      fixture: { rateLimit: 3, rateWindowS: 3 },
    });
    await stack.startWorkers();
    const job = await stack.refresh("yungryce", { timeoutMs: 90_000 });
    expect(job.state).toBe("completed");
    expect(job.progress).toMatchObject({ total: 48, completed: 48, failed: 0 });
    const s = await stack.github.stats();
    expect(s.graphql_points).toBeGreaterThan(3); // more than one window's worth
    expect(s.list).toBe(0);
    expect(await stack.jobs.dlqDepth()).toBe(0);
    // As over REST: only queries already on the wire when the points ran out are refused (RATE_LIMITED);
    // the first refusal pauses every further query until the reset.
    expect(s.max_rate_limited_per_window).toBeLessThanOrEqual(maxInFlight);
    expect(s.rate_limited).toBeLessThanOrEqual(s.rate_limited_windows * maxInFlight);
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

describe("GraphQL path: GitHub changing between the listing and the file fetch", () => {
  let g: Stack;
  let wctx: WorkerContext;
  let workers: RunningRoles | undefined;
  const logs: string[] = [];
  /** The workers' warnings, kept for assertions. */
  const captureLog = capturingLogger(logs);
  const start = (roles: readonly Role[] = ROLES) => workers = startRoles(wctx, roles);
  const repoOf = async (u: string, name: string) => (await bundleOf(g, u)).repos.find((r) => r.name === name);
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await g.github.fetch("/graphql", {
      method: "POST",
      headers: { authorization: "bearer fixture-token-faults", "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json() as { data?: Record<string, unknown>; errors?: unknown[] } };
  };

  beforeAll(async () => {
    g = await startStack({ env: TOKEN });
    wctx = await createContext(loadConfig(g.env), { redis: g.redis.client(), store: g.ctx.store, log: captureLog });
    start();
    expect((await g.refresh("yungryce")).state).toBe("completed");
  });
  afterAll(async () => {
    await workers?.stop(2000);
    await g?.stop();
  });

  test(
    "the fixture answers as GitHub: a replaced blob is still served by id, a deleted repo's is null + NOT_FOUND",
    async () => {
      const blobOf = async (repo: string) => {
        const q = await gql(
          `query($r: String!) { repository(owner: "yungryce", name: $r) {
           object(expression: "HEAD:README.md") { ... on Blob { id oid } } } }`,
          { r: repo },
        );
        return (q.body.data!.repository as { object: { id: string; oid: string } }).object;
      };
      const kept = await blobOf("binary_trees");
      const gone = await blobOf("simple_shell");
      await g.github.push("yungryce", "binary_trees", { readme: "# binary_trees, pushed since\n" });
      await g.github.deleteRepo("yungryce", "simple_shell");
      const q = await gql(`query($ids: [ID!]!) { nodes(ids: $ids) { ... on Blob { oid text } } }`, {
        ids: [kept.id, gone.id],
      });
      // HTTP 200, data for what exists (git keeps a replaced file's blob), null plus a typed error for the rest.
      expect(q.status).toBe(200);
      expect((q.body.data!.nodes as unknown[])[0]).toMatchObject({ oid: kept.oid });
      expect((q.body.data!.nodes as unknown[])[1]).toBeNull();
      expect(q.body.errors).toEqual([
        expect.objectContaining({
          type: "NOT_FOUND",
          path: ["nodes", 1],
          message: `Could not resolve to a node with the global id of '${gone.id}'`,
        }),
      ]);
      // The refresh that follows drops the deleted repo and reads the pushed README.
      expect((await g.refresh("yungryce")).state).toBe("completed");
      expect((await bundleOf(g, "yungryce")).repos.length).toBe(47);
      expect((await repoOf("yungryce", "binary_trees"))!.readme).toBe("# binary_trees, pushed since\n");
    },
    30_000,
  );

  test(
    "a repo deleted between the listing and the file fetch (a partial answer): completes, nothing dead-lettered",
    async () => {
      await g.github.push("yungryce", "monty", { readme: "# monty after the push\n" });
      await g.github.push("yungryce", "printf", { readme: "# printf, deleted before its README is read\n" });
      await g.github.afterListing("delete-repo", { owner: "yungryce", repo: "printf" });
      await g.github.resetStats();
      logs.length = 0;
      const job = await g.refresh("yungryce");
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 2, completed: 2, failed: 0 });
      expect(await g.jobs.dlqDepth()).toBe(0);
      const s = await g.github.stats();
      expect(s.graphql_errors).toBeGreaterThan(0); // the batch answered monty's README and NOT_FOUND for printf's
      expect((await repoOf("yungryce", "monty"))!.readme).toBe("# monty after the push\n");
      // printf's files are gone with it: the record says so as REST's 404s do, and the next refresh drops it.
      expect((await repoOf("yungryce", "printf"))!.readme).toBe("");
      expect(logs.some((l) => /printf.*gone from GitHub since the listing/.test(l))).toBe(true);
      expect((await g.refresh("yungryce")).state).toBe("completed");
      expect(await repoOf("yungryce", "printf")).toBeUndefined();
      expect((await bundleOf(g, "yungryce")).repos.length).toBe(46);
    },
    30_000,
  );

  test(
    "a README pushed between the listing and the file fetch: the listed one is read, the next refresh the new",
    async () => {
      await g.github.push("yungryce", "monty", { readme: "# v1, listed\n" });
      await g.github.afterListing("push", { owner: "yungryce", repo: "monty", readme: "# v2, pushed meanwhile\n" });
      const job = await g.refresh("yungryce");
      expect(job.state).toBe("completed");
      expect(job.progress).toMatchObject({ total: 1, completed: 1, failed: 0 });
      // The record is the commit the listing saw, whole: its README by the id listed.
      expect((await repoOf("yungryce", "monty"))!.readme).toBe("# v1, listed\n");
      const next = await g.refresh("yungryce");
      expect(next.state).toBe("completed");
      expect((await repoOf("yungryce", "monty"))!.readme).toBe("# v2, pushed meanwhile\n");
    },
    30_000,
  );

  test(
    "GraphQL gone between the listing and the file fetch (404): those repos sync over REST, a log line says why",
    async () => {
      await g.github.push("yungryce", "monty", { readme: "# monty, read over REST\n" });
      await g.github.afterListing("config", { graphql: false });
      await g.github.resetStats();
      logs.length = 0;
      try {
        const job = await g.refresh("yungryce");
        expect(job.state).toBe("completed");
        expect(job.progress).toMatchObject({ total: 1, completed: 1, failed: 0 });
        const s = await g.github.stats();
        expect(s.graphql).toBe(2); // the listing, then the file fetch answered 404
        expect(s.readme).toBe(1);
        expect((await repoOf("yungryce", "monty"))!.readme).toBe("# monty, read over REST\n");
        expect(
          logs.some((l) =>
            /^plan: GitHub GraphQL unusable \(GitHub GraphQL 404 for .*\); these repos sync over REST instead$/.test(l)
          ),
        ).toBe(true);
      } finally {
        await g.github.config({ graphql: true });
      }
    },
    30_000,
  );

  test(
    "a repo deleted between plan and sync, a README changed while its repo syncs, the fetched contents expired",
    async () => {
      await g.github.push("yungryce", "monty", { readme: "# v1\n" });
      await g.github.push("yungryce", "AirBnB_clone", { readme: "# gone soon\n" });
      await workers!.stop(2000);
      const { job } = await g.jobs.requestRefresh({ username: "yungryce" });
      // A plan that syncs no repo itself (SYNC_IN_PLAN_MAX=0): both repos go to sync jobs, run after the changes.
      const planCtx = await createContext(loadConfig({ ...g.env, SYNC_IN_PLAN_MAX: "0" }), {
        redis: g.redis.client(),
        store: g.ctx.store,
        log: captureLog,
      });
      const planOnly = startRoles(planCtx, ["plan"]);
      await g.waitFor(job.job_id, ["syncing"]);
      await planOnly.stop(2000);
      await g.github.deleteRepo("yungryce", "AirBnB_clone");
      await g.github.setFile("yungryce", "monty", "README.md", "# v2, written during the sync\n");
      // The contents plan fetched are gone (expired): each sync fetches its files by the ids listed.
      const keys = await g.ctx.redis.keys(`${g.cfg.QUEUE_PREFIX}:github:blob:*`);
      expect(keys.length).toBeGreaterThan(0);
      await g.ctx.redis.del(...keys);
      start();
      const done = await g.waitFor(job.job_id, ["completed", "failed"]);
      expect(done.state).toBe("completed");
      expect(done.progress).toMatchObject({ total: 2, completed: 2, failed: 0 });
      expect(await g.jobs.dlqDepth()).toBe(0);
      // monty's record is the README the listing named, read by its id after the change.
      expect((await repoOf("yungryce", "monty"))!.readme).toBe("# v1\n");
      // The next refresh drops the deleted repo and picks up the README as GitHub has it now.
      await g.github.push("yungryce", "monty", { readme: "# v3\n" });
      const next = await g.refresh("yungryce");
      expect(next.state).toBe("completed");
      const b = await bundleOf(g, "yungryce");
      expect(b.repos.length).toBe(45);
      expect(b.repos.some((r) => r.name === "AirBnB_clone")).toBe(false);
      expect(b.repos.find((r) => r.name === "monty")!.readme).toBe("# v3\n");
    },
    30_000,
  );
});
