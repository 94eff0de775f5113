import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { type Stack, startStack } from "../support/pipeline.ts";

let stack: Stack;
const received: { body: string; headers: Headers }[] = [];
let failFirst = true;
const receiver = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = await req.text();
    // The first delivery fails: the notify queue must retry it.
    if (failFirst) {
      failFirst = false;
      return new Response("try again", { status: 503 });
    }
    received.push({ body, headers: req.headers });
    return new Response("ok");
  },
});
beforeAll(async () => {
  stack = await startStack({ env: { WEBHOOK_SECRET: "s3cret" } });
  await stack.startWorkers();
});
afterAll(async () => {
  await stack.stop();
  receiver.stop(true);
});

test("a job with a callback_url gets a signed status webhook for its final state, retried on failure", async () => {
  const callback = `http://127.0.0.1:${receiver.port}/hook`;
  const { job } = await stack.jobs.requestRefresh({ username: "yungryce", callback_url: callback });
  expect((await stack.waitFor(job.job_id, ["completed"])).state).toBe("completed");
  const deadline = Date.now() + 20_000;
  while (received.length === 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(received.length).toBe(1);
  const { body, headers } = received[0];
  const payload = JSON.parse(body);
  expect(payload.job_id).toBe(job.job_id);
  expect(payload.state).toBe("completed");
  expect(payload.progress.total).toBe(48);
  const expected = `sha256=${createHmac("sha256", "s3cret").update(body).digest("hex")}`;
  expect(headers.get("x-foliosync-signature-256")).toBe(expected);
  expect(headers.get("x-foliosync-delivery")).toBe(`${job.job_id}:completed`);
}, 40_000);
