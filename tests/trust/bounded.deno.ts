// Bounded use, over real HTTP (Deno.serve on a free port) with a real Redis:
// `/api/ai` rate-limited per client (429 + Retry-After, counted in Redis
// across gateway instances), event streams capped per client (429
// too_many_streams), and a stream that ends when its job no longer exists.
import assert from "node:assert/strict";
import { createApp } from "../../gateway/app.ts";
import { publishBundle } from "../../shared/bundle-store.ts";
import { loadConfig } from "../../shared/config.ts";
import { bundleOf, json, serve, startTestGateway, stubAi } from "../gateway/harness.ts";
import { openSse as open, type SseStream } from "../gateway/sse.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ai = (url: string, ip: string) =>
  fetch(`${url}/api/ai`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify({ query: "which use flask?", username: "ai-user" }),
  });

/** The limiter counts per minute window: start a sequence early in a window so it cannot straddle two. */
async function freshWindow() {
  const into = Date.now() % 60_000;
  if (into > 50_000) await sleep(60_000 - into + 50);
}

/** Streams opened by the running test, closed in its `finally` (a server with an open stream never shuts down). */
const streams: SseStream[] = [];
async function openSse(url: string, init?: RequestInit): Promise<SseStream> {
  const s = await open(url, init);
  streams.push(s);
  return s;
}
async function closeStreams() {
  await Promise.all(streams.splice(0).map((s) => s.close()));
}

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not reached`);
    await sleep(20);
  }
}

Deno.test("/api/ai: AI_RATE_LIMIT_PER_MIN per client → 429 + Retry-After; other clients unaffected; shared across instances", async () => {
  const g = await startTestGateway({ AI_RATE_LIMIT_PER_MIN: "2", RATE_LIMIT_PER_MIN: "1000" }, {
    trustedProxyHops: 1,
  });
  // A second gateway instance on the same Redis (as behind a load balancer).
  const other = createApp({
    config: loadConfig({ REDIS_URL: g.server.url, STORAGE_DIR: g.dir, QUEUE_PREFIX: "gt", AI_RATE_LIMIT_PER_MIN: "2" }),
    redis: g.redis,
    jobs: g.jobs,
    store: g.store,
    ai: stubAi(g.store),
    logError: () => {},
    pointerCacheMs: 0,
    trustedProxyHops: 1,
  });
  const a = serve(g.app);
  const b = serve(other);
  try {
    await publishBundle(g.store, bundleOf("ai-user", "abcdefabcdef0022", ["one", "two"], "2025-01-01T00:00:00Z"));
    await freshWindow();
    for (let i = 0; i < 2; i++) {
      const ok = await ai(a.url, "198.51.100.10");
      assert.equal(ok.status, 200);
      assert.equal((await json(ok)).total_repositories, 2);
    }
    const limited = await ai(a.url, "198.51.100.10");
    assert.equal(limited.status, 429);
    assert.equal((await json(limited)).error.code, "rate_limited");
    const ra = Number(limited.headers.get("retry-after"));
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${limited.headers.get("retry-after")}`);
    // The other instance counts into the same window.
    const there = await ai(b.url, "198.51.100.10");
    assert.equal(there.status, 429);
    await there.body?.cancel();
    // Another client still gets answers, on either instance.
    for (const url of [a.url, b.url]) {
      const ok = await ai(url, "198.51.100.11");
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
    }
    // The refresh limit is a separate budget: the limited client may still refresh.
    const refresh = await fetch(`${a.url}/api/bundles/ai-user/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.10" },
      body: "{}",
    });
    assert.equal(refresh.status, 202);
    await refresh.body?.cancel();
  } finally {
    await a.stop();
    await b.stop();
    await g.close();
  }
});

Deno.test("event streams: at most MAX_STREAMS_PER_CLIENT open per client → 429 too_many_streams; a closed one frees its slot", async () => {
  const g = await startTestGateway({ MAX_STREAMS_PER_CLIENT: "1", RATE_LIMIT_PER_MIN: "1000" }, {
    trustedProxyHops: 1,
  });
  const http = serve(g.app);
  try {
    const { job } = await g.jobs.requestRefresh({ username: "stream-user" });
    const url = `${http.url}/api/bundles/stream-user/events?job_id=${job.job_id}`;
    const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });

    const first = await openSse(url, from("198.51.100.20"));
    assert.equal(first.response.status, 200);
    assert.equal((await first.nextData())?.state, "queued");

    const second = await fetch(url, from("198.51.100.20"));
    if (second.status !== 429) await second.body?.cancel();
    assert.equal(second.status, 429);
    assert.ok(Number(second.headers.get("retry-after")) >= 1);
    const body = await json(second);
    assert.equal(body.error.code, "too_many_streams");
    assert.match(body.error.message, /at most 1 event stream/);

    // Another client has its own allowance.
    const elsewhere = await openSse(url, from("198.51.100.21"));
    assert.equal(elsewhere.response.status, 200);
    assert.equal((await elsewhere.nextData())?.state, "queued");

    // The first client disconnects: its slot is released, a new stream opens.
    await first.close();
    let again: SseStream | null = null;
    await waitFor(async () => {
      const s = await openSse(url, from("198.51.100.20"));
      if (s.response.status === 200) {
        again = s;
        return true;
      }
      await s.close();
      return false;
    }, "a slot freed by the disconnect");
    const reopened = again as SseStream | null;
    assert.equal((await reopened!.nextData())?.state, "queued");

    // A stream that ends at its job's final state frees its slot too.
    await g.jobs.setState(job.job_id, "stream-user", "failed");
    assert.equal((await reopened!.nextData())?.state, "failed");
    assert.equal(await reopened!.nextData(), null);
    await reopened!.close();
    const { job: j2 } = await g.jobs.requestRefresh({ username: "stream-user-2" });
    const next = await openSse(
      `${http.url}/api/bundles/stream-user-2/events?job_id=${j2.job_id}`,
      from("198.51.100.20"),
    );
    assert.equal(next.response.status, 200);
    await next.close();
    await elsewhere.close();
  } finally {
    await closeStreams();
    await http.stop();
    await g.close();
  }
});

Deno.test("event streams: a stream ends when its job record is deleted mid-stream, without a final state", async () => {
  const g = await startTestGateway({ MAX_STREAMS_PER_CLIENT: "1" }, { heartbeatMs: 50 });
  const http = serve(g.app);
  try {
    const { job } = await g.jobs.requestRefresh({ username: "gone-user" });
    const sse = await openSse(`${http.url}/api/bundles/gone-user/events?job_id=${job.job_id}`);
    assert.equal(sse.response.status, 200);
    assert.equal((await sse.nextData())?.state, "queued");
    await g.jobs.setState(job.job_id, "gone-user", "planning");
    assert.equal((await sse.nextData())?.state, "planning");

    // The job record disappears (expired, or removed by an operator): no final state will ever come.
    assert.equal(await g.redis.del(g.jobs.keys.job(job.job_id)), 1);
    const rest: string[] = [];
    // Heartbeats keep coming while the stream is open: bound the wait by a count of them, not by time.
    for (let pings = 0;; pings++) {
      assert.ok(pings < 200, "the stream stayed open after its job was deleted");
      const ev = await sse.next(10_000);
      if (ev === null) break;
      if (ev.data !== undefined) rest.push(JSON.parse(ev.data).state);
    }
    assert.deepEqual(rest, []);
    await sse.close();
    // Its subscription is dropped and its slot released: the same client may open another stream.
    await waitFor(async () => {
      const out = (await g.redis.pubsub("NUMSUB", g.jobs.keys.jobEvents(job.job_id))) as [string, number];
      return Number(out[1]) === 0;
    }, "the subscription dropped");
    const { job: j2 } = await g.jobs.requestRefresh({ username: "gone-user-2" });
    const next = await openSse(`${http.url}/api/bundles/gone-user-2/events?job_id=${j2.job_id}`);
    assert.equal(next.response.status, 200);
    await next.close();
    // The deleted job reads as unknown now.
    const status = await fetch(`${http.url}/api/bundles/gone-user/status?job_id=${job.job_id}`);
    assert.equal(status.status, 404);
    await status.body?.cancel();
  } finally {
    await closeStreams();
    await http.stop();
    await g.close();
  }
});
