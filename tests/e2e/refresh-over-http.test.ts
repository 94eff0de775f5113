import { afterAll, beforeAll, expect, test } from "bun:test";
import { openSse } from "../gateway/sse.ts";
import { type StartedGateway, startGateway } from "../support/gateway.ts";
import { type Stack, startStack } from "../support/pipeline.ts";

let stack: Stack;
let gw: StartedGateway;
beforeAll(async () => {
  stack = await startStack({ fixture: { latencyMs: 20 } });
  gw = await startGateway({ env: { ...stack.env, LOG_LEVEL: "error" } });
});
afterAll(async () => {
  await gw?.stop();
  await stack?.stop();
});

const post = (path: string, body: unknown) =>
  fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

test(
  "an SSE client over real HTTP sees queued → planning → syncing (rising to total) → merging → completed",
  async () => {
    // Workers are not running yet, so the job waits in `queued` while the client subscribes.
    const res = await post("/api/bundles/yungryce/refresh", {});
    expect(res.status).toBe(202);
    const accepted = await res.json();
    expect(accepted.status).toBe("processing");
    const sse = await openSse(`${gw.url}${accepted.events_url}`);
    expect(sse.response.headers.get("content-type")).toContain("text/event-stream");
    const first = await sse.nextData(10_000);
    expect(first.state).toBe("queued");
    expect(first.job_id).toBe(accepted.job_id);

    await stack.startWorkers();
    const seen: { state: string; done: number; total: number }[] = [];
    for (;;) {
      const job = await sse.nextData(30_000);
      if (job === null) break;
      seen.push({ state: job.state, done: job.progress.completed + job.progress.failed, total: job.progress.total });
      if (job.state === "completed") break;
    }
    await sse.close();
    const states = seen.map((s) => s.state).filter((s, i, a) => i === 0 || a[i - 1] !== s);
    expect(states).toEqual(["planning", "syncing", "merging", "completed"]);
    const syncing = seen.filter((s) => s.state === "syncing");
    expect(syncing.length).toBeGreaterThan(5);
    for (let i = 1; i < syncing.length; i++) expect(syncing[i].done).toBeGreaterThanOrEqual(syncing[i - 1].done);
    expect(seen.find((s) => s.state === "merging")!.done).toBe(48);
    expect(syncing[0].total).toBe(48);
  },
  60_000,
);

test("refresh → status → bundle → ETag/304 → repo → ai, against real workers", async () => {
  const accepted = await (await post("/api/bundles/sindresorhus/refresh", { force_refresh: true })).json();
  let status;
  for (let i = 0; i < 600; i++) {
    status = await (await fetch(`${gw.url}${accepted.status_url}`)).json();
    if (["completed", "failed", "fresh"].includes(status.state)) break;
    await Bun.sleep(50);
  }
  expect(status.state).toBe("completed");
  expect(status.progress).toMatchObject({ total: 120, completed: 120, failed: 0, pending: 0, percentage: 100 });

  const b = await fetch(`${gw.url}/api/bundles/sindresorhus`);
  expect(b.status).toBe(200);
  const etag = b.headers.get("etag");
  expect(etag).toBeTruthy();
  const bundle = await b.json();
  expect(bundle.data.length).toBe(120);
  expect(bundle.username).toBe("sindresorhus");

  const again = await fetch(`${gw.url}/api/bundles/sindresorhus`, { headers: { "if-none-match": etag! } });
  expect(again.status).toBe(304);
  await again.body?.cancel();

  const one = await fetch(`${gw.url}/api/bundles/sindresorhus/${bundle.data[0].name}`);
  expect(one.status).toBe(200);
  expect((await one.json()).name).toBe(bundle.data[0].name);

  const ai = await post("/api/ai", { query: "kill a running process", username: "sindresorhus", limit: 3 });
  expect(ai.status).toBe(200);
  const answer = await ai.json();
  expect(answer.repositories_used.length).toBe(3);
  expect(answer.total_repositories).toBe(120);
  expect(typeof answer.response).toBe("string");
  expect(answer.response.length).toBeGreaterThan(0);
  expect(answer.repositories_used.map((r: { name: string }) => r.name).some((n: string) => n.startsWith("fkill"))).toBe(
    true,
  );
}, 60_000);
