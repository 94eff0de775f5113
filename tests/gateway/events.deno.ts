// The job event stream over real HTTP (Deno.serve on a free port) with a
// real Redis: the first event is the current state, every state published
// through JobStore arrives in order, the stream ends after a final state,
// and a disconnect drops the subscription.
import assert from "node:assert/strict";
import { compareJobs } from "../../gateway/routes/events.ts";
import type { JobRecord } from "../../shared/schemas/job.ts";
import { json, serve, startTestGateway } from "./harness.ts";
import { openSse } from "./sse.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function subscribers(
  g: { redis: { pubsub(...a: string[]): Promise<unknown> } },
  channel: string,
): Promise<number> {
  const out = (await g.redis.pubsub("NUMSUB", channel)) as [string, number];
  return Number(out[1]);
}

async function waitFor(cond: () => Promise<boolean>, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(20);
  }
  throw new Error("condition not met in time");
}

for (const mode of ["own connection", "shared hub"] as const) {
  const hub = mode === "shared hub";

  Deno.test(`[${mode}] events: queued → planning → syncing (rising) → merging → completed, in order, then the stream ends`, async () => {
    const g = await startTestGateway({}, { hub });
    const http = serve(g.app);
    try {
      const user = "Sse-User";
      const { job } = await g.jobs.requestRefresh({ username: user });
      const sse = await openSse(`${http.url}/api/bundles/${user}/events?job_id=${job.job_id}`);
      assert.equal(sse.response.status, 200);
      assert.match(sse.response.headers.get("content-type") ?? "", /^text\/event-stream/);
      assert.equal(sse.response.headers.get("cache-control"), "no-store");
      const first = await sse.nextData<JobRecord>();
      assert.equal(first?.state, "queued");
      assert.equal(first?.job_id, job.job_id);
      // the subscription exists before the first event is written
      assert.equal(await subscribers(g, g.jobs.keys.jobEvents(job.job_id)), 1);

      const repos = ["a", "b", "c", "d"];
      await g.jobs.setState(job.job_id, user, "planning");
      await g.jobs.startSync(
        job.job_id,
        user,
        repos.map((repo) => ({ job_id: job.job_id, username: user, repo, fingerprint: "f", github: {} })),
      );
      for (const r of repos) await g.jobs.markRepoDone(job.job_id, user, r, r === "c" ? "failed" : "completed");
      await g.jobs.setState(job.job_id, user, "completed", { bundle_fingerprint: "abc" });
      // changes after the final state are not streamed
      await g.jobs.setState(job.job_id, user, "training");

      const seen: JobRecord[] = [first!];
      for (;;) {
        const ev = await sse.nextData<JobRecord>();
        if (ev === null) break;
        seen.push(ev);
      }
      const states = seen.map((j) => j.state);
      const collapsed = states.filter((s, i) => s !== states[i - 1]);
      assert.deepEqual(collapsed, ["queued", "planning", "syncing", "merging", "completed"]);
      const syncing = seen.filter((j) => j.state === "syncing").map((j) => j.progress.percentage);
      assert.deepEqual(syncing, [0, 25, 50, 75]);
      assert.equal(seen.find((j) => j.state === "merging")?.progress.percentage, 100);
      assert.equal(seen.at(-1)?.state, "completed");
      assert.equal(seen.at(-1)?.bundle_fingerprint, "abc");
      // ids increase
      await sse.close();
      await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(job.job_id))) === 0);
    } finally {
      await http.stop();
      await g.close();
    }
  });

  Deno.test(`[${mode}] events: a job already final gives one event and ends; until=terminal follows training`, async () => {
    const g = await startTestGateway({}, { hub });
    const http = serve(g.app);
    try {
      const { job } = await g.jobs.requestRefresh({ username: "done-user" });
      await g.jobs.setState(job.job_id, "done-user", "fresh");
      const sse = await openSse(`${http.url}/api/bundles/done-user/events?job_id=${job.job_id}`);
      assert.equal((await sse.nextData())?.state, "fresh");
      assert.equal(await sse.nextData(), null);
      await sse.close();

      const { job: j2 } = await g.jobs.requestRefresh({ username: "train-user" });
      await g.jobs.setState(j2.job_id, "train-user", "completed");
      const t = await openSse(`${http.url}/api/bundles/train-user/events?job_id=${j2.job_id}&until=terminal`);
      assert.equal((await t.nextData())?.state, "completed");
      await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(j2.job_id))) === 1);
      await g.jobs.setState(j2.job_id, "train-user", "training");
      await g.jobs.setState(j2.job_id, "train-user", "trained");
      assert.equal((await t.nextData())?.state, "training");
      assert.equal((await t.nextData())?.state, "trained");
      assert.equal(await t.nextData(), null);
      await t.close();
    } finally {
      await http.stop();
      await g.close();
    }
  });

  Deno.test(`[${mode}] events: heartbeat comments; disconnect drops the subscription; 400/404 like status`, async () => {
    const g = await startTestGateway({}, { heartbeatMs: 50, hub });
    const http = serve(g.app);
    try {
      const { job } = await g.jobs.requestRefresh({ username: "hb-user" });
      const sse = await openSse(`${http.url}/api/bundles/hb-user/events?job_id=${job.job_id}`);
      assert.equal((await sse.nextData())?.state, "queued");
      let ping = await sse.next(2000);
      while (ping && ping.comment === undefined) ping = await sse.next(2000);
      assert.equal(ping?.comment, "ping");
      assert.equal(await subscribers(g, g.jobs.keys.jobEvents(job.job_id)), 1);
      await sse.close();
      await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(job.job_id))) === 0);
      const metrics = await (await fetch(`${http.url}/api/metrics`)).text();
      assert.match(metrics, /foliosync_sse_streams 0/);

      const r400 = await fetch(`${http.url}/api/bundles/hb-user/events`);
      assert.equal(r400.status, 400);
      assert.equal((await json(r400)).error.code, "missing_job_id");
      const r404 = await fetch(`${http.url}/api/bundles/hb-user/events?job_id=unknown`);
      assert.equal(r404.status, 404);
      assert.equal((await json(r404)).error.code, "job_not_found");
      const other = await fetch(`${http.url}/api/bundles/someone/events?job_id=${job.job_id}`);
      assert.equal(other.status, 404);
      await other.body?.cancel();
      const bad = await fetch(`${http.url}/api/bundles/..%2fetc/events?job_id=${job.job_id}`);
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      // refused streams leave no subscription behind
      await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(job.job_id))) === 0);
      await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents("unknown"))) === 0);
    } finally {
      await http.stop();
      await g.close();
    }
  });

  Deno.test(`[${mode}] events: changes made through another gateway instance arrive (pub/sub across instances)`, async () => {
    const g = await startTestGateway({}, { hub });
    const { Redis } = await import("ioredis");
    const { JobStore } = await import("../../shared/jobs/job-store.ts");
    const other = new Redis(g.server.url);
    const http = serve(g.app);
    try {
      const otherJobs = new JobStore(other, { prefix: "gt" });
      const { job } = await otherJobs.requestRefresh({ username: "multi" });
      const sse = await openSse(`${http.url}/api/bundles/multi/events?job_id=${job.job_id}`);
      assert.equal((await sse.nextData())?.state, "queued");
      await otherJobs.setState(job.job_id, "multi", "planning");
      await otherJobs.setState(job.job_id, "multi", "failed", { error: "GitHub user not found" });
      assert.equal((await sse.nextData())?.state, "planning");
      const failed = await sse.nextData();
      assert.equal(failed?.state, "failed");
      assert.equal(failed?.error, "GitHub user not found");
      assert.equal(await sse.nextData(), null);
      await sse.close();
    } finally {
      other.disconnect();
      await http.stop();
      await g.close();
    }
  });

  Deno.test(`[${mode}] events: many concurrent streams on one job all see the same ordered states`, async () => {
    const g = await startTestGateway({}, { hub });
    const http = serve(g.app);
    try {
      const { job } = await g.jobs.requestRefresh({ username: "crowd" });
      const streams = await Promise.all(
        Array.from({ length: 10 }, () => openSse(`${http.url}/api/bundles/crowd/events?job_id=${job.job_id}`)),
      );
      for (const s of streams) assert.equal((await s.nextData())?.state, "queued");
      await g.jobs.setState(job.job_id, "crowd", "planning");
      await g.jobs.setState(job.job_id, "crowd", "merging");
      await g.jobs.setState(job.job_id, "crowd", "completed");
      for (const s of streams) {
        const got: string[] = [];
        for (let ev = await s.nextData(); ev; ev = await s.nextData()) got.push(ev.state);
        assert.deepEqual(got, ["planning", "merging", "completed"]);
        await s.close();
      }
    } finally {
      await http.stop();
      await g.close();
    }
  });
}

Deno.test("compareJobs orders by state, then repos done, then updated_at (dedupe of the first event)", () => {
  const base: JobRecord = {
    job_id: "j",
    username: "u",
    state: "syncing",
    progress: { total: 4, completed: 1, failed: 0, pending: 3, percentage: 25 },
    force_refresh: false,
    created_at: "2025-01-01T00:00:00.000Z",
    updated_at: "2025-01-01T00:00:01.000Z",
  };
  const more = { ...base, progress: { ...base.progress, completed: 2 } };
  assert.equal(compareJobs(base, base), 0);
  assert.equal(compareJobs(more, base), 1);
  assert.equal(compareJobs(base, more), -1);
  assert.equal(compareJobs({ ...base, state: "merging" }, more), 1);
  assert.equal(compareJobs({ ...base, state: "queued", updated_at: "2030-01-01T00:00:00Z" }, base), -1);
  assert.equal(compareJobs({ ...base, updated_at: "2025-01-01T00:00:02.000Z" }, base), 1);
  assert.equal(compareJobs({ ...base, state: "failed" }, { ...base, state: "completed" }), 1);
});

Deno.test("bundle pointer cache: reused within its TTL, dropped when a job of the user ends (stream or feed)", async () => {
  const { publishBundle } = await import("../../shared/bundle-store.ts");
  const { startJobFeed } = await import("../../gateway/job-feed.ts");
  const { bundleOf } = await import("./harness.ts");
  const g0 = await startTestGateway();
  const feed = await startJobFeed(g0.redis, g0.jobs);
  const { createApp } = await import("../../gateway/app.ts");
  const { loadConfig } = await import("../../shared/config.ts");
  const app = createApp({
    config: loadConfig({ REDIS_URL: g0.server.url, QUEUE_PREFIX: "gt" }),
    redis: g0.redis,
    jobs: g0.jobs,
    store: g0.store,
    ai: { answer: () => Promise.resolve(null) },
    feed,
    pointerCacheMs: 60_000,
  });
  const http = serve(app);
  const etag = async (u: string) => {
    const r = await fetch(`${http.url}/api/bundles/${u}`);
    await r.body?.cancel();
    return r.status === 200 ? r.headers.get("etag") : String(r.status);
  };
  try {
    await publishBundle(g0.store, bundleOf("cache-a", "aaaa000000000001", ["x"], "2025-01-01T00:00:00Z"));
    assert.equal(await etag("cache-a"), `"aaaa000000000001"`);
    await publishBundle(g0.store, bundleOf("cache-a", "aaaa000000000002", ["x"], "2025-01-02T00:00:00Z"));
    assert.equal(await etag("cache-a"), `"aaaa000000000001"`, "cached within the TTL");
    // a job of the user ends, seen on an event stream of this instance
    const { job } = await g0.jobs.requestRefresh({ username: "cache-a" });
    const sse = await openSse(`${http.url}/api/bundles/cache-a/events?job_id=${job.job_id}`);
    await sse.nextData();
    await g0.jobs.setState(job.job_id, "cache-a", "completed");
    assert.equal((await sse.nextData())?.state, "completed");
    assert.equal(await etag("cache-a"), `"aaaa000000000002"`);
    await sse.close();

    // a user without a bundle (404 cached), whose first job ends elsewhere: the feed drops the entry
    assert.equal(await etag("cache-b"), "404");
    await publishBundle(g0.store, bundleOf("cache-b", "bbbb000000000001", ["x"], "2025-01-01T00:00:00Z"));
    const { job: jb } = await g0.jobs.requestRefresh({ username: "cache-b" });
    await g0.jobs.setState(jb.job_id, "cache-b", "completed");
    await waitFor(async () => (await etag("cache-b")) === `"bbbb000000000001"`);
    const metrics = await (await fetch(`${http.url}/api/metrics`)).text();
    assert.match(metrics, /foliosync_job_transitions_total\{state="completed"\} 2/);
    assert.match(metrics, /foliosync_job_duration_seconds_count\{state="completed"\} 2/);
  } finally {
    await http.stop();
    await feed.stop();
    await g0.close();
  }
});

Deno.test("shared hub: one connection for many jobs; each channel subscribed while followed, dropped after", async () => {
  const g = await startTestGateway({}, { hub: true });
  const http = serve(g.app);
  try {
    const clientsBefore = Number(((await g.redis.info("clients")).match(/connected_clients:(\d+)/) ?? [])[1]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await g.jobs.requestRefresh({ username: `hub-${i}` })).job.job_id);
    const streams = await Promise.all(
      ids.flatMap((id, i) => [0, 1].map(() => openSse(`${http.url}/api/bundles/hub-${i}/events?job_id=${id}`))),
    );
    for (const s of streams) assert.equal((await s.nextData())?.state, "queued");
    const clientsDuring = Number(((await g.redis.info("clients")).match(/connected_clients:(\d+)/) ?? [])[1]);
    assert.ok(
      clientsDuring - clientsBefore <= 1,
      `${clientsDuring - clientsBefore} new Redis connections for 10 streams`,
    );
    for (const id of ids) assert.equal(await subscribers(g, g.jobs.keys.jobEvents(id)), 1);
    // closing one of two streams of a job keeps the channel; closing both drops it
    await streams[0].close();
    await g.jobs.setState(ids[0], "hub-0", "planning");
    assert.equal((await streams[1].nextData())?.state, "planning");
    await streams[1].close();
    await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(ids[0]))) === 0);
    assert.equal(await subscribers(g, g.jobs.keys.jobEvents(ids[1])), 1);
    for (const s of streams.slice(2)) await s.close();
    for (const id of ids) await waitFor(async () => (await subscribers(g, g.jobs.keys.jobEvents(id))) === 0);
    // a job followed again after its channel was dropped streams again
    const again = await openSse(`${http.url}/api/bundles/hub-0/events?job_id=${ids[0]}`);
    assert.equal((await again.nextData())?.state, "planning");
    await g.jobs.setState(ids[0], "hub-0", "failed", { error: "x" });
    assert.equal((await again.nextData())?.state, "failed");
    assert.equal(await again.nextData(), null);
    await again.close();
  } finally {
    await http.stop();
    await g.close();
  }
});
