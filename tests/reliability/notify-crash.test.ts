/**
 * A state change and its status-webhook deliveries are one atomic step: a
 * worker process SIGKILLed right after it stored a state still leaves that
 * state's delivery queued, and the notify worker (another process) delivers
 * it, once. The crash point is exact: the merge worker talks to Redis
 * through a proxy that forwards the command storing `completed`, then lets
 * nothing more from that worker reach Redis, and the worker is SIGKILLed. No
 * merge, plan or sync worker runs afterwards, so nothing redoes the step.
 */
import { afterEach, expect, test } from "bun:test";
import { createServer, type Server, Socket } from "node:net";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { JOB_STATES, type JobState } from "../../shared/schemas/job.ts";
import { verifyStatusWebhook } from "../../shared/webhooks/index.ts";
import { startRedis } from "../support/redis.ts";
import { scenarioWorld, sleep, workerProcess } from "./support.ts";

const SECRET = "status-signing-secret-crash-0123";
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

/**
 * A TCP proxy to Redis that, once a client sends bytes matching `cutAfter`,
 * forwards that chunk and then drops everything its clients send (the process
 * behind it is frozen, from Redis's side, right after that command).
 */
function cuttingProxy(redisPort: number, cutAfter: string) {
  let cut = false;
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(redisPort, "127.0.0.1");
    sockets.push(client, upstream);
    // The pattern may straddle two chunks: each is searched with the end of the one before.
    let tail = "";
    client.on("data", (d: Buffer) => {
      if (cut) return;
      const text = tail + d.toString("latin1");
      if (text.includes(cutAfter)) cut = true;
      tail = text.slice(-cutAfter.length);
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  return {
    listen: () =>
      new Promise<number>((res) =>
        server.listen(0, "127.0.0.1", () => res((server.address() as { port: number }).port))
      ),
    isCut: () => cut,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((res) => server.close(() => res()));
    },
  };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test(
  "a worker SIGKILLed right after storing a state: the receiver still gets that state's delivery, once",
  async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const world = await scenarioWorld(cleanup, redis.url, { name: "notify-crash" });
    const got: { state: JobState; id: string; body: string; headers: Headers }[] = [];
    const receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = await req.text();
        got.push({
          state: JSON.parse(body).state,
          id: req.headers.get("x-foliosync-delivery") ?? "",
          body,
          headers: req.headers,
        });
        return new Response("ok");
      },
    });
    cleanup.push(() => Promise.resolve(receiver.stop(true)));
    // The merge stores `completed` with complete-merge, whose JSON argument alone carries `counter_ttl_s`.
    const proxy = cuttingProxy(redis.port, '"counter_ttl_s"');
    const proxyPort = await proxy.listen();
    cleanup.push(() => proxy.close());

    const env = {
      ...world.env,
      WEBHOOK_SIGNING_SECRET: SECRET,
      CALLBACK_ALLOW_HOSTS: `127.0.0.1:${receiver.port}`,
      LOG_LEVEL: "error",
    };
    const pipeline = workerProcess("plan,sync,merge", { ...env, REDIS_URL: `redis://127.0.0.1:${proxyPort}` });
    const notify = workerProcess("notify", env);
    await Promise.all([pipeline.start(), notify.start()]);
    cleanup.push(() => Promise.all([pipeline.stop(), notify.stop()]));

    const jobs = new JobStore(redis.client());
    const { job } = await jobs.requestRefresh({ username: "yungryce" });
    expect(await jobs.registerCallback(job.job_id, "ip:203.0.113.9", `http://127.0.0.1:${receiver.port}/hook`, job))
      .toBe("ok");

    await until(() => proxy.isCut(), 60_000, "the merge worker to send the command storing `completed`");
    await until(async () => (await jobs.get(job.job_id))?.state === "completed", 10_000, "`completed` to be stored");
    await pipeline.kill();
    // The same step counted the merge and queued the training it owes: nothing of it waits on the dead process.
    expect(Number(await redis.client().get(jobs.keys.counter(`merge:${job.job_id}`)))).toBe(1);
    expect(await redis.client().llen(queueKey("fs", "train", "waiting"))).toBe(1);
    expect(await redis.client().exists(jobs.keys.trainPending("yungryce"))).toBe(1);

    await until(() => got.some((g) => g.state === "completed"), 30_000, "the `completed` delivery");
    // Nothing more is on its way: the list is drained and no second `completed` arrives.
    await until(
      async () => (await jobs.callbacks.pendingStates(job.job_id, "ip:203.0.113.9")).length === 0,
      10_000,
      "the list to drain",
    );
    expect(got.filter((g) => g.state === "completed").length).toBe(1);
    const states = got.map((g) => g.state);
    for (const s of ["queued", "planning", "syncing", "merging", "completed"] as JobState[]) {
      expect(states).toContain(
        s,
      );
    }
    for (let i = 1; i < got.length; i++) {
      expect(JOB_STATES.indexOf(got[i].state)).toBeGreaterThanOrEqual(JOB_STATES.indexOf(got[i - 1].state));
    }
    expect(new Set(got.map((g) => g.id)).size).toBe(got.length);
    for (const g of got) expect(await verifyStatusWebhook(SECRET, g.headers, g.body)).toBe(true);
  },
  120_000,
);
