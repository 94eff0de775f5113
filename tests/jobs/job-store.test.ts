import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Redis } from "ioredis";
import { jobFrom, JobStore, storedJob } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { luaScripts } from "../../shared/jobs/scripts.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

let server: RedisServer;
let redis: Redis;
let store: JobStore;
beforeAll(async () => {
  server = await startRedis();
  redis = server.client();
  store = new JobStore(redis, { prefix: "t", lockTtlMs: 5000 });
});
afterAll(async () => {
  await server.stop();
});

describe("lua loader", () => {
  test("every lua file is named <name>-<numKeys>.lua and loads", () => {
    const names = luaScripts().map((s) => s.name).sort();
    expect(names).toContain("markReposDone");
    expect(names).toContain("requestRefresh");
    for (const s of luaScripts()) expect(s.numberOfKeys).toBeGreaterThan(0);
  });
});

describe("storedJob (the trusted read path)", () => {
  const base = {
    job_id: "0b7e1c2a-1111-4222-8333-944455556666",
    username: "Octo-Cat",
    state: "syncing",
    force_refresh: false,
    created_at: "2025-01-01T00:00:00.000Z",
    updated_at: "2025-01-01T00:00:01.000Z",
  };
  const progress = { total: 4, completed: 2, failed: 1, pending: 1, percentage: 75 };
  const cases: Record<string, unknown>[] = [
    base,
    { ...base, progress },
    { ...base, callback_url: "https://example.test/cb", only_repos: ["a.b", "c_d"], error: "x", message: "m" },
    { ...base, state: "completed", bundle_fingerprint: "abc", only_repos: {}, extra_field: 1 },
    Object.assign({ updated_at: base.updated_at, only_repos: ["r"] }, base, { callback_url: "u" }), // another key order (cjson)
  ];
  test("gives exactly what the zod parse gives (same fields, same key order), with and without counters", () => {
    for (const c of cases) {
      const json = JSON.stringify(c);
      expect(JSON.stringify(storedJob(json))).toBe(JSON.stringify(jobFrom(json)));
      expect(JSON.stringify(storedJob(json, ["3", "1", "0"]))).toBe(JSON.stringify(jobFrom(json, ["3", "1", "0"])));
    }
    expect(storedJob(null)).toBeNull();
  });
  test("refuses what is not a job, like the zod parse", () => {
    const bad = [
      {},
      { ...base, state: "nope" },
      { ...base, username: "-bad" },
      { ...base, job_id: 5 },
      { ...base, force_refresh: "yes" },
      { ...base, created_at: undefined },
      { ...base, only_repos: ["../x"] },
    ];
    for (const b of bad) {
      const json = JSON.stringify(b);
      expect(() => jobFrom(json)).toThrow();
      expect(() => storedJob(json)).toThrow();
    }
  });
});

describe("job store", () => {
  test("one refresh in flight per user: a second request gets the same job, and enqueues nothing more", async () => {
    const a = await store.requestRefresh({ username: "Octo-Cat" });
    expect(a.created).toBe(true);
    expect(a.job.state).toBe("queued");
    expect(a.job.progress).toEqual({ total: 0, completed: 0, failed: 0, pending: 0, percentage: 0 });
    const b = await store.requestRefresh({ username: "octo-cat", force_refresh: true });
    expect(b.created).toBe(false);
    expect(b.job.job_id).toBe(a.job.job_id);
    expect(await redis.llen(queueKey("t", "plan", "waiting"))).toBe(1);
    const stored = JSON.parse((await redis.hget(queueKey("t", "plan", "jobs"), a.job.job_id))!);
    expect(stored.data).toEqual({ job_id: a.job.job_id, username: "Octo-Cat", force_refresh: false });
    expect(stored.status).toBe("created");
  });

  test("simultaneous first requests for a user create one job: the others join it", async () => {
    // Both steps of every request interleave (each peek finds nothing; the first
    // create wins, the others' create step finds the lock and joins).
    const s = new JobStore(redis, { prefix: "t4" });
    const all = await Promise.all(Array.from({ length: 8 }, () => s.requestRefresh({ username: "race-user" })));
    expect(all.filter((r) => r.created).length).toBe(1);
    expect(new Set(all.map((r) => r.jobId)).size).toBe(1);
    expect(all.every((r) => r.job.job_id === all[0].jobId && r.job.state === "queued")).toBe(true);
    expect(await redis.llen(queueKey("t4", "plan", "waiting"))).toBe(1);
    expect(await redis.keys("t4:job:*")).toHaveLength(1);
  });

  test("a final state releases the lock so the next request creates a new job", async () => {
    const a = await store.requestRefresh({ username: "final-user" });
    await store.setState(a.job.job_id, "final-user", "planning");
    const done = await store.setState(a.job.job_id, "final-user", "fresh");
    expect(done?.state).toBe("fresh");
    expect(await redis.exists(store.keys.lock("final-user"))).toBe(0);
    const b = await store.requestRefresh({ username: "final-user" });
    expect(b.created).toBe(true);
    expect(b.job.job_id).not.toBe(a.job.job_id);
  });

  test("an expired lock (crashed job) never blocks the user", async () => {
    const short = new JobStore(redis, { prefix: "t2", lockTtlMs: 50 });
    const a = await short.requestRefresh({ username: "crashy" });
    await Bun.sleep(120);
    const b = await short.requestRefresh({ username: "crashy" });
    expect(b.created).toBe(true);
    expect(b.job.job_id).not.toBe(a.job.job_id);
  });

  test("fan-in counts each repo once and exactly one call is last, however often repos are reported", async () => {
    const { job } = await store.requestRefresh({ username: "fanin" });
    await store.setState(job.job_id, "fanin", "planning");
    const repos = ["a", "b", "c", "d", "e"];
    const started = await store.startSync(
      job.job_id,
      repos.map((repo) => ({ job_id: job.job_id, username: "fanin", repo, fingerprint: "f", github: {} })),
    );
    expect(started?.state).toBe("syncing");
    expect(started?.progress.total).toBe(5);
    expect(await redis.llen(queueKey("t", "sync", "waiting"))).toBe(5);
    // every repo reported 4 times concurrently, one of them as failed
    const calls = repos.flatMap((r) =>
      [0, 1, 2, 3].map(() => store.markRepoDone(job.job_id, "fanin", r, r === "c" ? "failed" : "completed"))
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.counted).length).toBe(5);
    expect(results.filter((r) => r.last).length).toBe(1);
    expect(await redis.llen(queueKey("t", "merge", "waiting"))).toBe(1);
    const now = await store.get(job.job_id);
    expect(now?.state).toBe("merging");
    expect(now?.progress).toEqual({ total: 5, completed: 4, failed: 1, pending: 0, percentage: 100 });
  });

  test("state changes are published to subscribers", async () => {
    const { job } = await store.requestRefresh({ username: "pubsub" });
    const seen: string[] = [];
    const stop = await store.subscribe(job.job_id, (j) => seen.push(j.state));
    await store.setState(job.job_id, "pubsub", "planning");
    await store.setState(job.job_id, "pubsub", "failed", { error: "boom" });
    await Bun.sleep(50);
    await stop();
    expect(seen).toEqual(["planning", "failed"]);
    expect((await store.get(job.job_id))?.error).toBe("boom");
    // a terminal job cannot be moved again (late duplicate delivery)
    expect(await store.setState(job.job_id, "pubsub", "planning")).toBeNull();
  });

  test("dead-letter entries can be listed and replayed once", async () => {
    await store.deadLetter({ queue: "sync", bee_job_id: "j1:repo", data: { x: 1 }, error: "502 from GitHub" });
    const list = await store.dlqList();
    expect(list.length).toBe(1);
    expect(list[0].error).toBe("502 from GitHub");
    const before = await redis.llen(queueKey("t", "sync", "waiting"));
    expect(await store.dlqReplay(list[0])).toBe(true);
    expect(await store.dlqReplay(list[0])).toBe(false);
    expect(await store.dlqDepth()).toBe(0);
    expect(await redis.llen(queueKey("t", "sync", "waiting"))).toBe(before + 1);
  });
});

describe("refresh with a rate limit in the same script", () => {
  test("over the limit → limited with retry-after, and nothing is enqueued or locked", async () => {
    const s = new JobStore(redis, { prefix: "t3" });
    const rate = { client: "ip:1.2.3.4", limit: 2, windowMs: 60_000 };
    const a = await s.requestRefresh({ username: "rl-a" }, rate);
    const b = await s.requestRefresh({ username: "rl-b" }, rate);
    const c = await s.requestRefresh({ username: "rl-c" }, rate);
    expect(a.created).toBe(true);
    expect(b.created).toBe(true);
    expect(c.limited?.retryAfterS).toBeGreaterThan(0);
    expect(c.job).toBeUndefined();
    expect(await redis.exists(s.keys.lock("rl-c"))).toBe(0);
    expect(await redis.llen(queueKey("t3", "plan", "waiting"))).toBe(2);
    // another client is not affected
    const d = await s.requestRefresh({ username: "rl-c" }, { ...rate, client: "ip:5.6.7.8" });
    expect(d.created).toBe(true);
  });
});
