// Status webhooks through the real pipeline: real Redis, the GitHub fixture
// server, in-process workers (plan, sync, merge, notify), real HTTP receivers.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import { FINAL_STATES, JOB_STATES, type JobState } from "../../shared/schemas/job.ts";
import { receiverId } from "../../shared/webhooks/callbacks.ts";
import { verifyStatusWebhook } from "../../shared/webhooks/index.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

const SECRET = "status-signing-secret-0123";

interface Got {
  body: string;
  headers: Headers;
  state: JobState;
}

/** A receiver that answers `status(n)` to its n-th request (0-based) and records the 2xx ones. */
function receiver(status: (n: number) => number) {
  const got: Got[] = [];
  let n = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = await req.text();
      const s = status(n++);
      if (s >= 200 && s < 300) got.push({ body, headers: req.headers, state: JSON.parse(body).state });
      return new Response("", { status: s });
    },
  });
  return { got, server, url: `http://127.0.0.1:${server.port}/hook?token=receiver-private-token`, attempts: () => n };
}

/**
 * A receiver that accepts every connection, reads the request and never
 * answers a byte: only the sender's NOTIFY_TIMEOUT_MS ends an attempt.
 * Counts requests, and connections the sender closed.
 */
function hungReceiver() {
  const open = new Set<Socket>();
  const seen = { requests: 0, closedBySender: 0 };
  const server = createServer((socket) => {
    open.add(socket);
    let head = "";
    socket.on("data", (d) => {
      if (head.length < 16) {
        head += d.toString("latin1");
        if (head.startsWith("POST ")) seen.requests++;
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      open.delete(socket);
      seen.closedBySender++;
    });
  });
  const port = new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  );
  return {
    seen,
    open,
    port,
    url: (p: number) => `http://127.0.0.1:${p}/hung-hook?token=hung-private-token`,
    stop: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

const flaky = receiver((n) => (n < 3 ? 503 : 200));
const healthy = receiver(() => 200);
const dead = receiver(() => 500);
const hung = hungReceiver();
const bystander = receiver(() => 200);
/** Each attempt to the hung receiver ends after this long (the healthy ones answer at once). */
const TIMEOUT_MS = 2000;

let stack: Stack;
beforeAll(async () => {
  const allow = [...[flaky, healthy, dead, bystander].map((r) => r.server.port), await hung.port]
    .map((p) => `127.0.0.1:${p}`).join(",");
  stack = await startStack({
    env: {
      WEBHOOK_SIGNING_SECRET: SECRET,
      CALLBACK_ALLOW_HOSTS: allow,
      NOTIFY_RETRIES: "4",
      NOTIFY_BACKOFF_MS: "40",
      NOTIFY_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
});
afterAll(async () => {
  await stack.stop();
  for (const r of [flaky, healthy, dead, bystander]) r.server.stop(true);
  hung.stop();
});

const order = (s: JobState) => JOB_STATES.indexOf(s);

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

test("a receiver failing its first 3 attempts gets every state change, signed, in order, unique ids", async () => {
  const { job } = await stack.jobs.requestRefresh({ username: "yungryce" });
  expect(await stack.jobs.registerCallback(job.job_id, "ip:203.0.113.7", flaky.url)).toBe("ok");
  await stack.startWorkers();
  expect((await stack.waitFor(job.job_id, ["completed"])).state).toBe("completed");
  await until(() => flaky.got.some((g) => g.state === "completed"), 30_000, "the completed delivery");

  const states = flaky.got.map((g) => g.state);
  for (const s of ["queued", "planning", "syncing", "merging", "completed"] as JobState[]) expect(states).toContain(s);
  // In order: state never goes back; progress never goes back within a state.
  for (let i = 1; i < flaky.got.length; i++) {
    const a = JSON.parse(flaky.got[i - 1].body);
    const b = JSON.parse(flaky.got[i].body);
    expect(order(b.state)).toBeGreaterThanOrEqual(order(a.state));
    if (a.state === b.state) {
      expect(b.progress.completed + b.progress.failed).toBeGreaterThan(a.progress.completed + a.progress.failed);
    }
  }
  const ids = flaky.got.map((g) => g.headers.get("x-foliosync-delivery"));
  expect(new Set(ids).size).toBe(ids.length);
  for (const g of flaky.got) {
    expect(await verifyStatusWebhook(SECRET, g.headers, g.body)).toBe(true);
    expect(await verifyStatusWebhook("another-secret-0123456", g.headers, g.body)).toBe(false);
    expect(g.headers.get("x-foliosync-event")).toBe(`job.${g.state}`);
    expect(g.body).not.toContain("hook");
    expect(g.body).not.toContain("receiver-private-token");
  }
  // Progress ticks are bounded (about one a second), not one per repo.
  expect(states.filter((s) => s === "syncing").length).toBeLessThan(48);
  expect(flaky.attempts()).toBe(flaky.got.length + 3);
  expect(JSON.parse(flaky.got.at(-1)!.body).progress.total).toBe(48);
}, 90_000);

test("a receiver that never answers 2xx ends in the DLQ without delaying the bundle or another tenant", async () => {
  const before = await stack.jobs.dlqDepth();
  const a = await stack.jobs.requestRefresh({ username: "yungryce", force_refresh: true });
  const b = await stack.jobs.requestRefresh({ username: "sindresorhus" });
  // Workers are running: the jobs may have moved on; the creator's receiver still hears `queued` first.
  expect(await stack.jobs.registerCallback(a.job.job_id, "ip:198.51.100.1", dead.url, a.job)).toBe("ok");
  expect(await stack.jobs.registerCallback(b.job.job_id, "ip:198.51.100.2", healthy.url, b.job)).toBe("ok");
  const [ja, jb] = await Promise.all([
    stack.waitFor(a.job.job_id, FINAL_STATES, 90_000),
    stack.waitFor(b.job.job_id, FINAL_STATES, 90_000),
  ]);
  expect(ja.state).toBe("completed");
  expect(jb.state).toBe("completed");
  await until(() => healthy.got.some((g) => g.state === "completed"), 30_000, "the healthy receiver's completed");
  expect(healthy.got.map((g) => g.state)).toEqual(expect.arrayContaining(["queued", "merging", "completed"]));
  expect(dead.got.length).toBe(0);
  // Every delivery to the dead receiver is dead-lettered in turn, until none is left.
  const rid = receiverId("ip:198.51.100.1");
  await until(
    async () => (await stack.jobs.callbacks.head(a.job.job_id, rid)) === null,
    60_000,
    "the dead receiver's list to drain",
  );
  const dlq = (await stack.jobs.dlqList(500)).filter((e) => e.queue === "notify" && e.error.includes(a.job.job_id));
  expect(dlq.length).toBeGreaterThanOrEqual(4); // queued … completed, each dead-lettered
  expect(await stack.jobs.dlqDepth()).toBeGreaterThan(before);
  for (const e of dlq) {
    const text = JSON.stringify(e);
    expect(text).not.toContain("receiver-private-token");
    expect(text).not.toContain("/hook");
    expect(e.error).toContain(`http://127.0.0.1:${dead.server.port}`);
  }
  // 5 attempts per delivery were due; after 5 failures in a row the host's breaker fails the rest at once.
  expect(dead.attempts()).toBe(5);
  expect(dlq.some((e) => e.error.includes("paused"))).toBe(true);
}, 120_000);

test(
  "a receiver that accepts and never answers: each attempt times out, retries, DLQ; the bundle and another tenant go on meanwhile",
  async () => {
    const before = new Set((await stack.jobs.dlqList(1000)).map((e) => JSON.stringify(e)));
    const hungUrl = hung.url(await hung.port);
    const a = await stack.jobs.requestRefresh({ username: "gen-4-hung" });
    expect(await stack.jobs.registerCallback(a.job.job_id, "ip:198.51.100.31", hungUrl, a.job)).toBe("ok");
    const hungRid = receiverId("ip:198.51.100.31");
    // The hung receiver holds its first delivery (`queued`) before the other tenant's refresh starts.
    await until(() => hung.seen.requests >= 1, 30_000, "the first attempt to the hung receiver");

    const b = await stack.jobs.requestRefresh({ username: "gen-4-bystander" });
    expect(await stack.jobs.registerCallback(b.job.job_id, "ip:198.51.100.32", bystander.url, b.job)).toBe("ok");
    const [ja, jb] = await Promise.all([
      stack.waitFor(a.job.job_id, FINAL_STATES, 90_000),
      stack.waitFor(b.job.job_id, FINAL_STATES, 90_000),
    ]);
    expect(ja.state).toBe("completed");
    expect(jb.state).toBe("completed");
    await until(() => bystander.got.some((g) => g.state === "completed"), 30_000, "the bystander's completed");
    // Order, not time: the other tenant got its whole sequence, and the hung receiver's own job its bundle,
    // while the hung receiver still had deliveries waiting (its first one not given up yet).
    expect(await stack.jobs.callbacks.head(a.job.job_id, hungRid)).not.toBeNull();
    expect(bystander.got.map((g) => g.state)).toEqual(expect.arrayContaining(["queued", "merging", "completed"]));
    expect(bystander.got.filter((g) => JSON.parse(g.body).job_id === b.job.job_id).length).toBe(bystander.got.length);
    for (const g of bystander.got) expect(await verifyStatusWebhook(SECRET, g.headers, g.body)).toBe(true);

    // Then every delivery to the hung receiver is given up in turn, and none is left.
    await until(
      async () => (await stack.jobs.callbacks.head(a.job.job_id, hungRid)) === null,
      90_000,
      "the hung receiver's list to drain",
    );
    const dlq = (await stack.jobs.dlqList(1000)).filter((e) =>
      !before.has(JSON.stringify(e)) && e.queue === "notify" && e.error.includes(a.job.job_id)
    );
    expect(dlq.length).toBeGreaterThanOrEqual(4); // queued … completed, each dead-lettered
    const texts = dlq.map((e) => JSON.stringify(e));
    for (const t of texts) {
      expect(t).not.toContain("hung-private-token");
      expect(t).not.toContain("/hung-hook");
    }
    // The first delivery failed by its timeouts (NOTIFY_RETRIES + 1 attempts); the host's breaker, open after
    // 5 failures in a row, failed the rest without a connection.
    expect(dlq.some((e) => e.error.includes(`did not answer within ${TIMEOUT_MS} ms`))).toBe(true);
    expect(dlq.some((e) => e.error.includes("paused"))).toBe(true);
    expect(hung.seen.requests).toBe(5);
    // Every connection (never answered) was ended by the sender: the attempt's timeout.
    await until(() => hung.seen.closedBySender === hung.seen.requests, 10_000, "the sender to close its connections");
    expect(hung.open.size).toBe(0);
  },
  180_000,
);
