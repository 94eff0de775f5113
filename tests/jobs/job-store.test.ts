import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Redis } from "ioredis";
import { jobFrom, JobStore, storedJob } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { readdirSync, readFileSync } from "node:fs";
import { luaScripts, resolveIncludes } from "../../shared/jobs/scripts.ts";
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
  test("--- @include lines are inlined once; the job rules live only in includes/job.lua", () => {
    const includes = readFileSync(new URL("../../shared/jobs/lua/includes/job.lua", import.meta.url), "utf8");
    for (const s of luaScripts()) {
      expect(s.lua).not.toMatch(/^--- @include/m);
      const n = s.lua.split("local function moveJob(").length - 1;
      expect(n).toBeLessThanOrEqual(1);
    }
    const setState = luaScripts().find((s) => s.name === "setState")!;
    expect(setState.lua).toContain(includes.trim().split("\n").at(-1)!);
    // no script but the include defines the job's progress or its publishing
    for (const f of readdirSync(new URL("../../shared/jobs/lua/", import.meta.url))) {
      if (!f.endsWith(".lua")) continue;
      const src = readFileSync(new URL(`../../shared/jobs/lua/${f}`, import.meta.url), "utf8");
      expect(src).not.toContain("percentage");
      expect(src).not.toContain("string.format('\"");
    }
    expect(() => resolveIncludes('--- @include "includes/nope"')).toThrow();
  });
  test("job-store.ts builds no JSON by hand", () => {
    const src = readFileSync(new URL("../../shared/jobs/job-store.ts", import.meta.url), "utf8");
    expect(src).not.toMatch(/slice\(0, -1\)|'"progress"|\+ "}"/);
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
    { ...base, state: "failed", error_code: "storage_unavailable", message: "m", error: "storage get failed" }, // cjson order
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
      { ...base, error: "x", error_code: "made_up" },
      { ...base, error: "x", error_code: "toString" },
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

  test("in flight is decided by the job's state: a job waiting in its queue past LOCK_TTL still holds the user", async () => {
    // The lock's TTL bounds a silent worker, not a queue: a plan job waiting behind a rate-limit pause
    // longer than LOCK_TTL_MS still holds the user, so a second request joins it instead of starting a job.
    const short = new JobStore(redis, { prefix: "t2", lockTtlMs: 50 });
    const a = await short.requestRefresh({ username: "waiting-user" });
    await Bun.sleep(150);
    const b = await short.requestRefresh({ username: "waiting-user" });
    expect(b.created).toBe(false);
    expect(b.jobId).toBe(a.jobId);
    expect(await redis.llen(queueKey("t2", "plan", "waiting"))).toBe(1);
  });

  test("a crashed job (no sign of life for JOB_STUCK_MS) never blocks the user: it is failed with a reason", async () => {
    const s = new JobStore(redis, { prefix: "t2s", jobStuckMs: 100 });
    const a = await s.requestRefresh({ username: "crashy" });
    expect(await s.registerCallback(a.jobId, "ip:192.0.2.1", "http://127.0.0.1:9/cb", a.job)).toBe("ok");
    await Bun.sleep(250);
    const b = await s.requestRefresh({ username: "crashy" });
    expect(b.created).toBe(true);
    expect(b.jobId).not.toBe(a.jobId);
    const old = await s.get(a.jobId);
    expect(old?.state).toBe("failed");
    expect(old?.error).toMatch(/no progress for \d+ s while queued/);
    expect(old?.error_code).toBe("stuck");
    // Its callback receiver hears about it like any other state change.
    expect(await s.callbacks.pendingStates(a.jobId, "ip:192.0.2.1")).toEqual(["queued", "failed"]);
  });

  test("fan-in counts each repo once and exactly one call is last, however often repos are reported", async () => {
    const { job } = await store.requestRefresh({ username: "fanin" });
    await store.setState(job.job_id, "fanin", "planning");
    const repos = ["a", "b", "c", "d", "e"];
    const started = await store.startSync(
      job.job_id,
      "fanin",
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

  test("plan's commit counts the repos it synced: with all of them the job is merging, one merge queued", async () => {
    const remember = (fp: string) => ({ fingerprint: fp, set: [`x:oid:readme`, fp], del: ["x:etag:readme"] });
    // Some repos synced by plan, the rest in sync jobs: counted now, and by the fan-in later.
    const { job: partly } = await store.requestRefresh({ username: "inplan1" });
    await store.setState(partly.job_id, "inplan1", "planning");
    const started = await store.startSync(
      partly.job_id,
      "inplan1",
      ["c", "d"].map((repo) => ({ job_id: partly.job_id, username: "inplan1", repo, fingerprint: "f", github: {} })),
      [{ repo: "a", remember: remember("fa") }, { repo: "B", remember: remember("fb") }],
    );
    expect(started?.state).toBe("syncing");
    expect(started?.progress).toMatchObject({ total: 4, completed: 2, failed: 0 });
    expect(await redis.hgetall(store.keys.fingerprints("inplan1"))).toEqual({ a: "fa", B: "fb" });
    // A repo counted by plan is not counted again when reported later (a duplicate delivery).
    expect((await store.markRepoDone(partly.job_id, "inplan1", "b", "completed")).counted).toBe(false);
    const last = await Promise.all(["c", "d"].map((r) => store.markRepoDone(partly.job_id, "inplan1", r, "completed")));
    expect(last.filter((r) => r.last).length).toBe(1);
    expect((await store.get(partly.job_id))?.progress).toMatchObject({ total: 4, completed: 4 });

    // Every repo synced by plan: no sync job, the job goes on to merging with its merge queued.
    const mergesBefore = await redis.llen(queueKey("t", "merge", "waiting"));
    const syncsBefore = await redis.llen(queueKey("t", "sync", "waiting"));
    const { job } = await store.requestRefresh({ username: "inplan2" });
    await store.setState(job.job_id, "inplan2", "planning");
    const seen: string[] = [];
    const stop = await store.subscribe(job.job_id, (j) => seen.push(j.state));
    const merging = await store.startSync(job.job_id, "inplan2", [], [
      { repo: "one", remember: remember("f1") },
      { repo: "two", remember: remember("f2") },
      { repo: "ONE", remember: remember("f1") },
    ]);
    expect(merging?.state).toBe("merging");
    expect(merging?.progress).toEqual({ total: 2, completed: 2, failed: 0, pending: 0, percentage: 100 });
    expect(await redis.llen(queueKey("t", "merge", "waiting"))).toBe(mergesBefore + 1);
    expect(await redis.llen(queueKey("t", "sync", "waiting"))).toBe(syncsBefore);
    expect(await redis.hget(store.keys.etags("inplan2"), "x:oid:readme")).toBe("f1");
    await Bun.sleep(50);
    await stop();
    expect(seen).toEqual(["syncing", "merging"]);
    // The commit runs once: a second (a redelivered plan) finds the job no longer planning.
    expect(await store.startSync(job.job_id, "inplan2", [], [{ repo: "one", remember: remember("f1") }])).toBeNull();
    expect(await redis.llen(queueKey("t", "merge", "waiting"))).toBe(mergesBefore + 1);
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

describe("nothing lost (issue 17)", () => {
  const sync = (jobId: string, username: string, repo: string) => ({
    job_id: jobId,
    username,
    repo,
    fingerprint: "f",
    github: {},
  });

  test("a listing that names a repo twice (any case) is counted once: the job reaches merging", async () => {
    const { job } = await store.requestRefresh({ username: "dupes" });
    await store.setState(job.job_id, "dupes", "planning");
    const started = await store.startSync(job.job_id, "dupes", [
      sync(job.job_id, "dupes", "alpha"),
      sync(job.job_id, "dupes", "Beta"),
      sync(job.job_id, "dupes", "alpha"),
      sync(job.job_id, "dupes", "beta"),
    ]);
    expect(started?.progress.total).toBe(2);
    const ids = await redis.lrange(queueKey("t", "sync", "waiting"), 0, -1);
    expect(ids.filter((id) => id.startsWith(job.job_id)).length).toBe(2);
    const r = await Promise.all([
      store.markRepoDone(job.job_id, "dupes", "alpha", "completed"),
      store.markRepoDone(job.job_id, "dupes", "Beta", "completed"),
      store.markRepoDone(job.job_id, "dupes", "beta", "completed"),
    ]);
    expect(r.filter((x) => x.last).length).toBe(1);
    const now = await store.get(job.job_id);
    expect(now?.state).toBe("merging");
    expect(now?.progress).toEqual({ total: 2, completed: 2, failed: 0, pending: 0, percentage: 100 });
  });

  test("the watchdog fails a job with no progress for JOB_STUCK_MS: reason, lock released, event published", async () => {
    const s = new JobStore(redis, { prefix: "wd", jobStuckMs: 150 });
    const { job } = await s.requestRefresh({ username: "stuck" });
    await s.registerCallback(job.job_id, "ip:192.0.2.1", "http://127.0.0.1:9/cb", job);
    await s.setState(job.job_id, "stuck", "planning");
    await s.startSync(job.job_id, "stuck", [sync(job.job_id, "stuck", "a"), sync(job.job_id, "stuck", "b")]);
    const seen: string[] = [];
    const all: string[] = [];
    const stop = await s.subscribe(job.job_id, (j) => seen.push(`${j.state}:${j.error ?? ""}`));
    const sub = redis.duplicate();
    sub.on("message", (_c: string, m: string) => all.push(JSON.parse(m).state));
    await sub.subscribe(s.keys.allEvents());
    // Signs of life keep it alive: a counted repo, a heartbeat.
    await Bun.sleep(100);
    await s.markRepoDone(job.job_id, "stuck", "a", "completed");
    await Bun.sleep(100);
    expect(await s.heartbeat("stuck", job.job_id)).toBe(true);
    await Bun.sleep(100);
    expect(await s.failStuckJobs()).toEqual([]);
    await Bun.sleep(200);
    const failed = await s.failStuckJobs();
    expect(failed.map((j) => j.job_id)).toEqual([job.job_id]);
    await Bun.sleep(50);
    await stop();
    sub.disconnect();
    const now = await s.get(job.job_id);
    expect(now?.state).toBe("failed");
    expect(now?.error).toMatch(/no progress for \d+ s while syncing: failed by the watchdog/);
    expect(now?.error_code).toBe("stuck");
    expect(now?.progress).toMatchObject({ total: 2, completed: 1 });
    expect(seen.at(-1)).toMatch(/^failed:no progress/);
    expect(all).toContain("failed");
    expect(await redis.exists(s.keys.lock("stuck"))).toBe(0);
    expect(await redis.zscore(s.keys.inflight(), job.job_id)).toBeNull();
    expect((await s.callbacks.pendingStates(job.job_id, "ip:192.0.2.1")).at(-1)).toBe("failed");
    // A late repo of the failed job changes nothing; the user can refresh again.
    await s.markRepoDone(job.job_id, "stuck", "b", "completed");
    expect((await s.get(job.job_id))?.state).toBe("failed");
    expect(await redis.llen(queueKey("wd", "merge", "waiting"))).toBe(0);
    expect((await s.requestRefresh({ username: "stuck" })).created).toBe(true);
  });

  test("the watchdog fails a training job that stopped moving as training_failed", async () => {
    const s = new JobStore(redis, { prefix: "wdt", jobStuckMs: 100 });
    const { job } = await s.requestRefresh({ username: "trainer" });
    await s.setState(job.job_id, "trainer", "planning");
    await s.setState(job.job_id, "trainer", "merging");
    await s.setState(job.job_id, "trainer", "completed");
    expect(await redis.zscore(s.keys.inflight(), job.job_id)).toBeNull(); // waiting for training is not watched
    await s.setState(job.job_id, "trainer", "training");
    await Bun.sleep(200);
    const [failed] = await s.failStuckJobs();
    expect(failed.state).toBe("training_failed");
    expect(failed.error).toMatch(/while training/);
    expect(failed.error_code).toBe("stuck");
  });

  test("deliveries that never finished are counted as stalls; a finished one resets the count", async () => {
    expect(await store.beginDelivery("merge", "j:merge")).toBe(0);
    // the process died: no endDelivery
    expect(await store.beginDelivery("merge", "j:merge")).toBe(1);
    await store.endDelivery("merge", "j:merge", false); // an attempt that failed and is retried
    expect(await store.beginDelivery("merge", "j:merge")).toBe(1);
    await store.endDelivery("merge", "j:merge", true);
    expect(await store.beginDelivery("merge", "j:merge")).toBe(0);
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
