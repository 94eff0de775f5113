/**
 * The status cache (gateway/job-cache.ts): a job is read from Redis once
 * between its changes; every published change (state or progress tick, on
 * any connection) drops it; nothing is kept while the feed cannot see
 * changes. Real Redis, real JobStore, real job feed, real HTTP.
 */
import assert from "node:assert/strict";
import { createApp } from "../../gateway/app.ts";
import { JobCache } from "../../gateway/job-cache.ts";
import { JobEventsHub } from "../../gateway/job-events-hub.ts";
import { type JobFeed, startJobFeed } from "../../gateway/job-feed.ts";
import { loadConfig } from "../../shared/config.ts";
import type { JobRecord } from "../../shared/schemas/job.ts";
import { publishBundle } from "../../shared/bundle-store.ts";
import { json, serve, startTestGateway, type TestGateway } from "./harness.ts";
import { openSse } from "./sse.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => Promise<boolean> | boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(10);
  }
  throw new Error("condition not met in time");
}

const job = (state: JobRecord["state"], id = "11111111-2222-4333-8444-555555555555"): JobRecord => ({
  job_id: id,
  username: "u",
  state,
  progress: { total: 0, completed: 0, failed: 0, pending: 0, percentage: 0 },
  force_refresh: false,
  created_at: "2025-01-01T00:00:00.000Z",
  updated_at: "2025-01-01T00:00:00.000Z",
});

/** A read whose answers the test releases one by one. */
function manualRead() {
  const calls: { id: string; resolve: (j: JobRecord | null) => void }[] = [];
  const read = (id: string) => new Promise<JobRecord | null>((resolve) => calls.push({ id, resolve }));
  return { calls, read };
}

Deno.test("job cache: one read between changes; a change seen while reading is not cached; off while not live", async () => {
  const m = manualRead();
  let live = true;
  const cache = new JobCache(m.read, { ttlMs: 60_000, live: () => live });
  const id = job("queued").job_id;

  // concurrent misses share one read; then hits
  const a = cache.get(id);
  const b = cache.get(id);
  assert.equal(m.calls.length, 1);
  m.calls[0].resolve(job("queued"));
  assert.equal((await a)?.job.state, "queued");
  assert.equal((await b)?.body, JSON.stringify(job("queued")));
  assert.equal((await cache.get(id))?.job.state, "queued");
  assert.equal(m.calls.length, 1, "answered from memory");

  // a change: the next get reads again
  cache.drop(id);
  const c = cache.get(id);
  assert.equal(m.calls.length, 2);
  // …and a change seen while that read is in flight: its answer is returned but not kept
  cache.drop(id);
  m.calls[1].resolve(job("planning"));
  assert.equal((await c)?.job.state, "planning");
  assert.equal(cache.size, 0);
  const d = cache.get(id);
  assert.equal(m.calls.length, 3, "read again: the earlier answer may predate the change");
  m.calls[2].resolve(job("syncing"));
  assert.equal((await d)?.job.state, "syncing");
  assert.equal(cache.size, 1);

  // unknown jobs are not cached
  const e = cache.get("99999999-2222-4333-8444-555555555555");
  m.calls[3].resolve(null);
  assert.equal(await e, null);
  assert.equal(cache.size, 1);

  // clear (the feed's connection dropped), and nothing is kept while not live
  cache.clear();
  assert.equal(cache.size, 0);
  live = false;
  const f = cache.get(id);
  m.calls[4].resolve(job("merging"));
  assert.equal((await f)?.job.state, "merging");
  assert.equal(cache.size, 0);
  live = true;

  // a read that started while not live is not kept even if the feed is back when it ends
  live = false;
  const g = cache.get(id);
  live = true;
  m.calls[5].resolve(job("merging"));
  await g;
  assert.equal(cache.size, 0);
});

Deno.test("job cache: entries expire after ttlMs; ttlMs 0 reads every time", async () => {
  const m = manualRead();
  const cache = new JobCache(m.read, { ttlMs: 30 });
  const id = job("queued").job_id;
  const first = cache.get(id);
  m.calls[0].resolve(job("queued"));
  await first;
  await cache.get(id);
  assert.equal(m.calls.length, 1);
  await sleep(40);
  const again = cache.get(id);
  assert.equal(m.calls.length, 2);
  m.calls[1].resolve(job("queued"));
  await again;

  const off = new JobCache(m.read, { ttlMs: 0 });
  for (let i = 0; i < 2; i++) {
    const p = off.get(id);
    m.calls.at(-1)!.resolve(job("queued"));
    await p;
  }
  assert.equal(m.calls.length, 4);
});

/** A gateway app with the job feed (as in production) behind real HTTP. */
async function withFeed(
  fn: (g: TestGateway, url: string, feed: JobFeed) => Promise<void>,
  opts: { lateChangesMs?: number; pointerCacheMs?: number } = {},
) {
  const g = await startTestGateway();
  const real = await startJobFeed(g.redis, g.jobs);
  // lateChangesMs: the feed's connection hears of changes later than the event streams' one (it may:
  // two connections), so only the stream's own drop can keep a poll after its event current.
  const feed: JobFeed = opts.lateChangesMs
    ? {
      on: (l) => real.on(l),
      onChange: (l) => real.onChange((id) => void setTimeout(() => l(id), opts.lateChangesMs)),
      onReset: (l) => real.onReset(l),
      get live() {
        return real.live;
      },
      stop: () => real.stop(),
    }
    : real;
  const hub = new JobEventsHub(g.redis, g.jobs);
  const app = createApp({
    config: loadConfig({ REDIS_URL: g.server.url, QUEUE_PREFIX: "gt" }),
    redis: g.redis,
    jobs: g.jobs,
    store: g.store,
    ai: { answer: () => Promise.resolve(null) },
    feed,
    subscribe: hub.subscribe,
    jobCacheMs: 60_000,
    ...(opts.pointerCacheMs ? { pointerCacheMs: opts.pointerCacheMs } : {}),
  });
  const http = serve(app);
  try {
    await fn(g, http.url, feed);
  } finally {
    await http.stop();
    hub.close();
    await feed.stop();
    await g.close();
  }
}

/** Resolves once the feed delivered the first event of a job of `username`. */
function creationSeen(feed: JobFeed, username: string): Promise<void> {
  return new Promise((resolve) => feed.on((job) => job.username === username && resolve()));
}

Deno.test("status polls: answered from memory until the job changes; state changes and progress ticks both seen", async () => {
  await withFeed(async (g, url, feed) => {
    // The creation event reaches the feed asynchronously: a poll that overlaps it is rightly not cached.
    const created = creationSeen(feed, "poller");
    const { job: j } = await g.jobs.requestRefresh({ username: "poller" });
    await created;
    const status = async () => json(await fetch(`${url}/api/bundles/poller/status?job_id=${j.job_id}`));
    assert.equal((await status()).state, "queued");

    // A write that publishes nothing (not how foliosync changes jobs) stays unseen: the poll was cached.
    const key = g.jobs.keys.job(j.job_id);
    const stored = JSON.parse((await g.redis.hget(key, "json"))!);
    await g.redis.hset(key, "json", JSON.stringify({ ...stored, state: "merging" }));
    assert.equal((await status()).state, "queued");

    // A published change drops it.
    await g.jobs.setState(j.job_id, "poller", "planning");
    await waitFor(async () => (await status()).state === "planning");

    // Progress ticks (published on the job's channel only) drop it too.
    await g.jobs.startSync(
      j.job_id,
      "poller",
      ["a", "b"].map((repo) => ({ job_id: j.job_id, username: "poller", repo, fingerprint: "f", github: {} })),
    );
    await waitFor(async () => (await status()).state === "syncing");
    assert.equal((await status()).progress.completed, 0);
    await g.jobs.markRepoDone(j.job_id, "poller", "a", "completed");
    await waitFor(async () => (await status()).progress.completed === 1);

    // Another user's poll of the job is still a 404 when the job is cached.
    const other = await fetch(`${url}/api/bundles/someone-else/status?job_id=${j.job_id}`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  });
});

Deno.test("status after an event stream's final event is never older than that event", async () => {
  await withFeed(async (g, url) => {
    const { job: j } = await g.jobs.requestRefresh({ username: "watcher" });
    const statusUrl = `${url}/api/bundles/watcher/status?job_id=${j.job_id}`;
    assert.equal((await json(await fetch(statusUrl))).state, "queued"); // cached now
    const sse = await openSse(`${url}/api/bundles/watcher/events?job_id=${j.job_id}`);
    try {
      assert.equal((await sse.nextData())?.state, "queued");
      await g.jobs.setState(j.job_id, "watcher", "failed", { error: "x" });
      assert.equal((await sse.nextData())?.state, "failed");
      // No waiting: the stream dropped the cached job before it sent the event.
      assert.equal((await json(await fetch(statusUrl))).state, "failed");
    } finally {
      await sse.close();
    }
  }, { lateChangesMs: 500 });
});

Deno.test("status cache: emptied when the feed's connection drops, refilled once it is back", async () => {
  await withFeed(async (g, url, feed) => {
    const created = creationSeen(feed, "dropper");
    const { job: j } = await g.jobs.requestRefresh({ username: "dropper" });
    await created;
    const status = async () => (await json(await fetch(`${url}/api/bundles/dropper/status?job_id=${j.job_id}`))).state;
    assert.equal(await status(), "queued");
    const key = g.jobs.keys.job(j.job_id);
    const stored = JSON.parse((await g.redis.hget(key, "json"))!);
    await g.redis.hset(key, "json", JSON.stringify({ ...stored, state: "planning" }));
    assert.equal(await status(), "queued", "cached");
    // Redis closes every pub/sub connection: changes could pass unseen, so the cache is emptied.
    await g.redis.call("CLIENT", "KILL", "TYPE", "pubsub");
    await waitFor(async () => (await status()) === "planning");
    // Once re-subscribed, polls are cached again (a silent write stays unseen) and changes drop them.
    await waitFor(() => feed.live);
    await status();
    await g.redis.hset(key, "json", JSON.stringify({ ...stored, state: "merging" }));
    assert.equal(await status(), "planning", "cached again after the reconnect");
    await g.jobs.setState(j.job_id, "dropper", "failed", { error: "x" });
    await waitFor(async () => (await status()) === "failed");
  });
});

Deno.test("bundle pointer cache: emptied when the feed's connection drops and bypassed until it is back", async () => {
  await withFeed(async (g, url, feed) => {
    const publish = (fp: string) =>
      publishBundle(g.store, {
        username: "ptr",
        fingerprint: fp,
        github_fingerprint: fp,
        content_fingerprint: fp,
        generated_at: new Date().toISOString(),
        repos: [],
      });
    const etag = async () =>
      (await fetch(`${url}/api/bundles/ptr`).then(async (r) => (await r.body?.cancel(), r)))
        .headers.get("etag");
    await publish("a".repeat(40));
    const first = await etag();
    // A pointer swapped without a job event (no invalidation): the cached pointer is served.
    await publish("b".repeat(40));
    assert.equal(await etag(), first, "cached");
    // The feed's connection drops: invalidations could pass unseen, so the cache is emptied and bypassed.
    await g.redis.call("CLIENT", "KILL", "TYPE", "pubsub");
    await waitFor(async () => (await etag()) !== first);
    const second = await etag();
    // Back live: cached again.
    await waitFor(() => feed.live);
    await etag();
    await publish("c".repeat(40));
    assert.equal(await etag(), second, "cached again after the reconnect");
  }, { pointerCacheMs: 60_000 });
});
