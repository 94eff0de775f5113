// The gateway as a process (gateway/main.ts via tests/support/gateway.ts):
// real Redis, real local storage, the real AI service.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { publishBundle } from "../../shared/bundle-store.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { startGateway } from "../support/gateway.ts";
import { startRedis } from "../support/redis.ts";
import { bundleOf } from "./harness.ts";
import { openSse } from "./sse.ts";

Deno.test("gateway/main.ts serves the API: health, ready, refresh + SSE, bundle, ai (real AI service)", async () => {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), "foliosync-gw-main-"));
  const gw = await startGateway({ env: { REDIS_URL: redis.url, STORAGE_DIR: dir, QUEUE_PREFIX: "gm" } });
  try {
    assert.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await (await fetch(`${gw.url}/api/health`)).json(), { status: "ok" });
    const ready = await fetch(`${gw.url}/api/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    await ready.body?.cancel();

    const r = await fetch(`${gw.url}/api/bundles/octo/refresh`, { method: "POST" });
    assert.equal(r.status, 202);
    const accepted = await r.json();
    const sse = await openSse(gw.url + accepted.events_url);
    assert.equal((await sse.nextData())?.state, "queued");
    await sse.close();

    const store = await LocalStore.open(dir);
    const b = bundleOf("octo", "00aa11bb22cc33dd", ["flask-api", "rust-cli"], "2025-01-01T00:00:00Z");
    b.repos[0].readme = "# flask-api\nA REST API built with Flask and SQLAlchemy.";
    b.repos[0].metadata.language = "Python";
    b.repos[1].readme = "# rust-cli\nA command line tool written in Rust.";
    b.repos[1].metadata.language = "Rust";
    await publishBundle(store, b);
    const bundle = await fetch(`${gw.url}/api/bundles/octo`);
    assert.equal(bundle.status, 200);
    assert.equal(bundle.headers.get("etag"), `"00aa11bb22cc33dd"`);
    await bundle.body?.cancel();

    const ai = await fetch(`${gw.url}/api/ai`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "which projects use Flask?", username: "octo", limit: 2 }),
    });
    const answer = await ai.json();
    assert.equal(ai.status, 200, JSON.stringify(answer));
    assert.equal(answer.repositories_used[0].name, "flask-api");
    assert.equal(answer.total_repositories, 2);
    const none = await fetch(`${gw.url}/api/ai`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "anything", username: "nobody-here" }),
    });
    assert.equal(none.status, 404);
    await none.body?.cancel();

    const metrics = await (await fetch(`${gw.url}/api/metrics`)).text();
    assert.match(metrics, /foliosync_job_transitions_total\{state="queued"\} 1/);
  } finally {
    await gw.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
