// Contract tests of every gateway route and every error, against a real
// redis-server and a real local blob store (app.request: no socket needed;
// client identity from X-Forwarded-For uses a trusted proxy hop).
import assert from "node:assert/strict";
import { publishBundle } from "../../shared/bundle-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { ErrorBody, JobRecord, RefreshAccepted } from "../../shared/schemas/index.ts";
import { hubSignature } from "../../gateway/routes/webhooks.ts";
import { bundleOf, json, serve, startTestGateway } from "./harness.ts";

const JSON_CT = { "content-type": "application/json" };
const post = (body?: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { ...JSON_CT, ...headers },
  body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
});

async function expectError(res: Response, status: number, code?: string) {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.ok(ErrorBody.safeParse(body).success, `error shape: ${JSON.stringify(body)}`);
  if (code) assert.equal(body.error.code, code);
  assert.ok(!/at .*\.ts:\d+|Error:|stack/i.test(body.error.message), `no internals: ${body.error.message}`);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return body;
}

Deno.test("refresh", async (t) => {
  const g = await startTestGateway({ RATE_LIMIT_PER_MIN: "1000", WEBHOOK_SIGNING_SECRET: "signing-secret-0123456789" });
  try {
    await t.step(
      "202 with job urls; a second request while in flight gets the same job and enqueues nothing more",
      async () => {
        const a = await g.req("/api/bundles/Octo-Cat/refresh", post({}));
        assert.equal(a.status, 202);
        const body = RefreshAccepted.parse(await json(a));
        assert.equal(body.status, "processing");
        assert.equal(body.status_url, `/api/bundles/Octo-Cat/status?job_id=${body.job_id}`);
        assert.equal(body.events_url, `/api/bundles/Octo-Cat/events?job_id=${body.job_id}`);
        assert.equal(a.headers.get("location"), body.status_url);
        const b = await json(await g.req("/api/bundles/octo-cat/refresh", post({ force_refresh: true })));
        assert.equal(b.job_id, body.job_id);
        assert.equal(await g.redis.llen(queueKey("gt", "plan", "waiting")), 1);
      },
    );

    await t.step("an empty body (no content type) is a plain refresh; options are passed on", async () => {
      const r = await g.req("/api/bundles/empty-body/refresh", { method: "POST" });
      assert.equal(r.status, 202);
      const r2 = await g.req(
        "/api/bundles/with-opts/refresh",
        post({ force_refresh: true, callback_url: "https://example.com/hook" }),
      );
      const jobId = (await json(r2)).job_id;
      const job = await g.jobs.get(jobId);
      assert.equal(job?.force_refresh, true);
      // The callback is registered beside the job, never in it.
      assert.equal(await g.jobs.callbacks.count(jobId), 1);
      assert.ok(!JSON.stringify(job).includes("example.com"));
    });

    await t.step("bad usernames: 400 before anything reaches Redis", async () => {
      const before = await g.redis.dbsize();
      for (const u of ["-lead", "a".repeat(40), "..%2f..%2fetc", "a_b", "%E2%9C%93", "a%20b", "a.b"]) {
        await expectError(await g.req(`/api/bundles/${u}/refresh`, post({})), 400, "invalid_username");
      }
      assert.equal(await g.redis.dbsize(), before);
    });

    await t.step("bodies: bad JSON 400, wrong type 415, oversized 413, unknown field 400, non-object 400", async () => {
      await expectError(await g.req("/api/bundles/octo/refresh", post("{bad")), 400, "invalid_json");
      await expectError(
        await g.req("/api/bundles/octo/refresh", {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: "{}",
        }),
        415,
      );
      await expectError(
        await g.req("/api/bundles/octo/refresh", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "force_refresh=true",
        }),
        415,
      );
      const big = JSON.stringify({ force_refresh: true, pad: "x".repeat(70 * 1024) });
      await expectError(await g.req("/api/bundles/octo/refresh", post(big)), 413, "payload_too_large");
      // Over a socket, with Content-Length: refused by the header, before the body is read.
      const srv = serve(g.app);
      try {
        await expectError(await fetch(`${srv.url}/api/bundles/octo/refresh`, post(big)), 413, "payload_too_large");
      } finally {
        await srv.stop();
      }
      // Without Content-Length (chunked): counted while reading.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode("x".repeat(4096)));
          c.close();
        },
      });
      await expectError(
        await g.req("/api/bundles/octo/refresh", { method: "POST", headers: JSON_CT, body: stream }),
        413,
      );
      await expectError(await g.req("/api/bundles/octo/refresh", post({ force: true })), 400, "invalid_body");
      await expectError(await g.req("/api/bundles/octo/refresh", post({ force_refresh: "yes" })), 400, "invalid_body");
      await expectError(
        await g.req("/api/bundles/octo/refresh", post({ callback_url: "ftp://x/y" })),
        400,
        "invalid_body",
      );
      await expectError(await g.req("/api/bundles/octo/refresh", post([1, 2])), 400, "invalid_body");
      await expectError(await g.req("/api/bundles/octo/refresh", post("null")), 400, "invalid_body");
      await expectError(
        await g.req("/api/bundles/octo/refresh", post(new Uint8Array([0xff, 0xfe]) as unknown as string)),
        400,
      );
    });

    await t.step("wrong method and unknown routes: JSON 404", async () => {
      // GET .../refresh is the record of a repo named "refresh"
      await expectError(await g.req("/api/bundles/octo/refresh"), 404);
      await expectError(await g.req("/api/bundles/octo", { method: "DELETE" }), 404, "not_found");
      await expectError(await g.req("/api/nothing"), 404, "not_found");
      await expectError(await g.req("/nothing"), 404, "not_found");
    });
  } finally {
    await g.close();
  }
});

Deno.test("API keys: refresh needs a bearer key when API_KEYS is set; reads do not", async () => {
  const g = await startTestGateway({ API_KEYS: "k-one-key:*, k-two-key:octo", RATE_LIMIT_PER_MIN: "1000" });
  try {
    const none = await g.req("/api/bundles/octo/refresh", post({}));
    await expectError(none, 401, "unauthorized");
    assert.match(none.headers.get("www-authenticate") ?? "", /Bearer/);
    await expectError(await g.req("/api/bundles/octo/refresh", post({}, { authorization: "Bearer k-three-key" })), 401);
    await expectError(await g.req("/api/bundles/octo/refresh", post({}, { authorization: "Basic k-one-key" })), 401);
    await expectError(await g.req("/api/bundles/octo/refresh", post({}, { authorization: "Bearer k-one-ke" })), 401);
    const ok = await g.req("/api/bundles/octo/refresh", post({}, { authorization: "Bearer k-two-key" }));
    assert.equal(ok.status, 202);
    const { job_id } = await json(ok);
    // status, bundle, ai stay readable without a key
    assert.equal((await g.req(`/api/bundles/octo/status?job_id=${job_id}`)).status, 200);
    assert.equal((await g.req(`/api/bundles/octo`)).status, 404);
    assert.equal((await g.req("/api/ai", post({ query: "x", username: "octo" }))).status, 404);
  } finally {
    await g.close();
  }
});

Deno.test("rate limit: 429 with Retry-After per client (IP from a trusted proxy, or API key)", async () => {
  const g = await startTestGateway({ RATE_LIMIT_PER_MIN: "2", API_KEYS: "key-a-123:*,key-b-123:*" }, {
    trustedProxyHops: 1,
  });
  try {
    const from = (ip: string, key: string) => post({}, { "x-forwarded-for": ip, authorization: `Bearer ${key}` });
    assert.equal((await g.req("/api/bundles/u1/refresh", from("10.0.0.1", "key-a-123"))).status, 202);
    assert.equal((await g.req("/api/bundles/u2/refresh", from("10.0.0.1", "key-a-123"))).status, 202);
    const limited = await g.req("/api/bundles/u3/refresh", from("10.0.0.1", "key-a-123"));
    await expectError(limited, 429, "rate_limited");
    const ra = Number(limited.headers.get("retry-after"));
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After ${ra}`);
    // another key is another client
    assert.equal((await g.req("/api/bundles/u3/refresh", from("10.0.0.1", "key-b-123"))).status, 202);
    // the key never reaches Redis in clear
    const keys = await g.redis.keys("gt:rl:*");
    assert.ok(keys.length >= 2 && keys.every((k) => /:key:[0-9a-f]{24}:/.test(k)), keys.join(" "));
    assert.ok(keys.every((k) => !k.includes("key-a-123") && !k.includes("key-b-123")));
  } finally {
    await g.close();
  }
});

Deno.test("rate limit by IP without keys; X-Forwarded-For ignored unless a proxy is trusted", async () => {
  const g = await startTestGateway({ RATE_LIMIT_PER_MIN: "1" });
  try {
    assert.equal((await g.req("/api/bundles/a1/refresh", post({}, { "x-forwarded-for": "1.1.1.1" }))).status, 202);
    // spoofing another address does not help: the socket peer counts
    await expectError(await g.req("/api/bundles/a2/refresh", post({}, { "x-forwarded-for": "2.2.2.2" })), 429);
  } finally {
    await g.close();
  }
});

Deno.test("status", async (t) => {
  const g = await startTestGateway();
  try {
    const { job } = await g.jobs.requestRefresh({ username: "Stat-User" });
    await t.step("200 with progress; case-insensitive owner", async () => {
      const r = await g.req(`/api/bundles/stat-user/status?job_id=${job.job_id}`);
      assert.equal(r.status, 200);
      const body = JobRecord.parse(await json(r));
      assert.equal(body.job_id, job.job_id);
      assert.equal(body.state, "queued");
      assert.deepEqual(body.progress, { total: 0, completed: 0, failed: 0, pending: 0, percentage: 0 });
      assert.equal(r.headers.get("cache-control"), "no-store");
    });
    await t.step("progress follows the job", async () => {
      await g.jobs.setState(job.job_id, "Stat-User", "planning");
      await g.jobs.startSync(
        job.job_id,
        "Stat-User",
        ["a", "b"].map((repo) => ({
          job_id: job.job_id,
          username: "Stat-User",
          repo,
          fingerprint: "f",
          github: {},
        })),
      );
      await g.jobs.markRepoDone(job.job_id, "Stat-User", "a", "completed");
      const body = await json(await g.req(`/api/bundles/Stat-User/status?job_id=${job.job_id}`));
      assert.equal(body.state, "syncing");
      assert.deepEqual(body.progress, { total: 2, completed: 1, failed: 0, pending: 1, percentage: 50 });
    });
    await t.step("400 without job_id or with a malformed one; 404 unknown job or another user's job", async () => {
      await expectError(await g.req(`/api/bundles/stat-user/status`), 400, "missing_job_id");
      await expectError(await g.req(`/api/bundles/stat-user/status?job_id=`), 400, "missing_job_id");
      await expectError(await g.req(`/api/bundles/stat-user/status?job_id=..%2f..%2fetc`), 400, "invalid_job_id");
      await expectError(await g.req(`/api/bundles/stat-user/status?job_id=${"a".repeat(65)}`), 400, "invalid_job_id");
      await expectError(await g.req(`/api/bundles/stat-user/status?job_id=nope`), 404, "job_not_found");
      await expectError(await g.req(`/api/bundles/someone-else/status?job_id=${job.job_id}`), 404, "job_not_found");
      await expectError(
        await g.req(`/api/bundles/${"x".repeat(40)}/status?job_id=${job.job_id}`),
        400,
        "invalid_username",
      );
    });
  } finally {
    await g.close();
  }
});

Deno.test("bundles: 404 before the first bundle, ETag/Last-Modified, 304, one record", async (t) => {
  const g = await startTestGateway();
  try {
    await t.step("404 before the first bundle", async () => {
      await expectError(await g.req("/api/bundles/octo"), 404, "bundle_not_found");
      await expectError(await g.req("/api/bundles/octo/alpha"), 404, "bundle_not_found");
    });
    const b1 = bundleOf("octo", "a1b2c3d4e5f60718", ["alpha", "beta", "status"], "2025-01-02T03:04:05.678Z");
    await publishBundle(g.store, b1);
    let etag = "";
    await t.step("200 with the bundle, ETag and Last-Modified", async () => {
      const r = await g.req("/api/bundles/Octo");
      assert.equal(r.status, 200);
      etag = r.headers.get("etag") ?? "";
      assert.equal(etag, `"a1b2c3d4e5f60718"`);
      assert.equal(r.headers.get("last-modified"), "Thu, 02 Jan 2025 03:04:05 GMT");
      const body = await json(r);
      assert.deepEqual(Object.keys(body).sort(), ["data", "fingerprint", "last_modified", "username"]);
      assert.equal(body.fingerprint, "a1b2c3d4e5f60718");
      assert.equal(body.last_modified, "2025-01-02T03:04:05.678Z");
      assert.deepEqual(body.data.map((r: { name: string }) => r.name), ["alpha", "beta", "status"]);
    });
    await t.step("If-None-Match → 304 (also weak, and in a list); a stale tag → 200", async () => {
      for (const inm of [etag, `W/${etag}`, `"zzz", ${etag}`, "*"]) {
        const r = await g.req("/api/bundles/octo", { headers: { "if-none-match": inm } });
        assert.equal(r.status, 304, inm);
        assert.equal(r.headers.get("etag"), etag);
        assert.equal(await r.text(), "");
      }
      assert.equal((await g.req("/api/bundles/octo", { headers: { "if-none-match": `"old"` } })).status, 200);
    });
    await t.step("If-Modified-Since → 304 when not modified since", async () => {
      const r = await g.req("/api/bundles/octo", { headers: { "if-modified-since": "Thu, 02 Jan 2025 03:04:05 GMT" } });
      assert.equal(r.status, 304);
      const r2 = await g.req("/api/bundles/octo", {
        headers: { "if-modified-since": "Thu, 02 Jan 2025 03:04:04 GMT" },
      });
      assert.equal(r2.status, 200);
      await r2.body?.cancel();
    });
    await t.step("a new bundle changes the ETag", async () => {
      await publishBundle(g.store, bundleOf("octo", "99887766aabbccdd", ["alpha"], "2025-02-01T00:00:00.000Z"));
      const r = await g.req("/api/bundles/octo", { headers: { "if-none-match": etag } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("etag"), `"99887766aabbccdd"`);
      assert.equal((await json(r)).data.length, 1);
    });
    await t.step(
      "one record; 404 unknown repo; 400 bad names; repos/ alias reaches a repo named like a route",
      async () => {
        await publishBundle(
          g.store,
          bundleOf("octo", "1234567890abcdef", ["alpha", "status", "events"], "2025-03-01T00:00:00.000Z"),
        );
        const r = await g.req("/api/bundles/octo/alpha");
        assert.equal(r.status, 200);
        const rec = await json(r);
        assert.equal(rec.name, "alpha");
        assert.equal(rec.full_name, "octo/alpha");
        assert.equal((await json(await g.req("/api/bundles/octo/ALPHA"))).name, "alpha");
        assert.equal((await json(await g.req("/api/bundles/octo/repos/status"))).name, "status");
        assert.equal(
          (await g.req("/api/bundles/octo/alpha", { headers: { "if-none-match": `"1234567890abcdef"` } })).status,
          304,
        );
        await expectError(await g.req("/api/bundles/octo/gamma"), 404, "repo_not_found");
        for (const bad of ["..%2f..%2fetc", "a%2fb", "x".repeat(101), "%00"]) {
          await expectError(await g.req(`/api/bundles/octo/${bad}`), 400, "invalid_repo");
        }
        await expectError(await g.req("/api/bundles/..%2f..%2fetc/alpha"), 400, "invalid_username");
        await expectError(await g.req("/api/bundles/octo/a/b/c"), 404, "not_found");
        // a literal ".." segment is resolved by URL parsing before routing: never reaches a handler
        await expectError(await g.req("/api/bundles/octo/../../etc/passwd"), 404, "not_found");
        await expectError(await g.req("/api/bundles/octo/%2e%2e/%2e%2e/etc"), 404, "not_found");
      },
    );
  } finally {
    await g.close();
  }
});

Deno.test("POST /api/ai", async () => {
  const g = await startTestGateway();
  try {
    await expectError(await g.req("/api/ai", post({ query: "flask", username: "nobody" })), 404, "bundle_not_found");
    await publishBundle(
      g.store,
      bundleOf("ai-user", "abcdefabcdef0011", ["one", "two", "three"], "2025-01-01T00:00:00Z"),
    );
    const ok = await g.req("/api/ai", post({ query: "which use flask?", username: "ai-user", limit: 2 }));
    assert.equal(ok.status, 200);
    const body = await json(ok);
    assert.equal(body.repositories_used.length, 2);
    assert.equal(body.total_repositories, 3);
    for (
      const bad of [
        {},
        { query: "", username: "ai-user" },
        { query: "   ", username: "ai-user" },
        { query: "x".repeat(501), username: "ai-user" },
        { query: "x", username: "../etc" },
        { query: "x", username: "ai-user", limit: 0 },
        { query: "x", username: "ai-user", limit: 51 },
        { query: "x", username: "ai-user", extra: 1 },
        { query: 5, username: "ai-user" },
      ]
    ) {
      await expectError(await g.req("/api/ai", post(bad)), 400, "invalid_body");
    }
    await expectError(await g.req("/api/ai", post("{")), 400, "invalid_json");
    await expectError(await g.req("/api/ai", { method: "POST" }), 415);
    await expectError(
      await g.req("/api/ai", { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" }),
      415,
    );
    await expectError(await g.req("/api/ai", post({ query: "x".repeat(65 * 1024), username: "ai-user" })), 413);
  } finally {
    await g.close();
  }
});

Deno.test("GitHub webhooks: signature, ping, push → one-repo refresh", async () => {
  const secret = "github-webhook-secret-1";
  const g = await startTestGateway({ GITHUB_WEBHOOK_SECRET: secret, API_KEYS: "only-for-refresh:*" });
  const off = await startTestGateway();
  try {
    const send = async (event: string, payload: unknown, sig?: string, ct = "application/json") => {
      const raw = ct === "application/json"
        ? JSON.stringify(payload)
        : "payload=" + encodeURIComponent(JSON.stringify(payload));
      const bytes = new TextEncoder().encode(raw);
      return g.req("/api/webhooks/github", {
        method: "POST",
        headers: {
          "content-type": ct,
          "x-github-event": event,
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": sig ?? await hubSignature(secret, bytes),
        },
        body: bytes,
      });
    };
    const push = (owner: string, repo: string, ref = "refs/heads/main") => ({
      ref,
      repository: { name: repo, full_name: `${owner}/${repo}`, default_branch: "main", owner: { login: owner } },
    });
    await expectError(await send("push", push("octo", "alpha"), "sha256=" + "0".repeat(64)), 401, "bad_signature");
    await expectError(
      await g.req("/api/webhooks/github", {
        method: "POST",
        headers: { ...JSON_CT, "x-github-event": "push" },
        body: "{}",
      }),
      401,
    );
    const ping = await send("ping", { zen: "Keep it simple." });
    assert.equal(ping.status, 200);
    const r = await send("push", push("Octo", "alpha"));
    assert.equal(r.status, 202);
    const job = await g.jobs.get((await json(r)).job_id);
    assert.equal(job?.username, "Octo");
    assert.deepEqual(job?.only_repos, ["alpha"]);
    const form = await send("push", push("other", "beta"), undefined, "application/x-www-form-urlencoded");
    assert.equal(form.status, 202);
    // Its own body limit, 25 MB (GitHub's ceiling for a push payload), not the API's 64 KiB: a 200 KiB push
    // (JSON and form) is verified over its raw bytes; past 25 MB, 413 before the signature is looked at.
    const large = { ...push("large", "gamma"), commits: [{ message: "x".repeat(200 * 1024) }] };
    assert.equal((await send("push", large)).status, 202);
    assert.equal((await send("push", large, undefined, "application/x-www-form-urlencoded")).status, 202);
    const mib = new Uint8Array(1024 * 1024).fill(0x20);
    const huge = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 26; i++) c.enqueue(mib);
        c.close();
      },
    });
    await expectError(
      await g.req("/api/webhooks/github", {
        method: "POST",
        headers: { ...JSON_CT, "x-github-event": "push", "x-github-delivery": "d-huge" },
        body: huge,
      }),
      413,
      "payload_too_large",
    );
    const branch = await send("push", push("octo", "alpha", "refs/heads/feature"));
    assert.equal(branch.status, 200);
    assert.equal((await json(branch)).ignored, true);
    assert.equal((await send("issues", { action: "opened" })).status, 200);
    await expectError(await send("push", push("../etc", "alpha")), 400, "invalid_username");
    await expectError(await send("push", push("octo", "..")), 400, "invalid_repo");
    await expectError(await send("push", "not json"), 400);
    await expectError(
      await off.req("/api/webhooks/github", { method: "POST", headers: JSON_CT, body: "{}" }),
      404,
    );
  } finally {
    await g.close();
    await off.close();
  }
});

Deno.test("ops: health, ready, metrics, openapi, status page", async (t) => {
  const g = await startTestGateway();
  try {
    await t.step("health and ready", async () => {
      assert.deepEqual(await json(await g.req("/api/health")), { status: "ok" });
      const r = await g.req("/api/ready");
      assert.equal(r.status, 200);
      assert.deepEqual(await json(r), { status: "ready", checks: { redis: "ok", storage: "ok" } });
    });
    await t.step("metrics: queue depths, DLQ, request latency by route pattern", async () => {
      await g.jobs.requestRefresh({ username: "metric-user" });
      await g.jobs.deadLetter({ queue: "sync", bee_job_id: "x", data: {}, error: "boom" });
      await g.req("/api/bundles/octo/status?job_id=nope");
      await g.req("/api/no/such/route/x1");
      await g.req("/api/health");
      const r = await g.req("/api/metrics");
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
      const text = await r.text();
      assert.match(text, /foliosync_queue_jobs\{queue="plan",state="waiting"\} 1/);
      assert.match(text, /foliosync_queue_jobs\{queue="sync",state="failed"\} 0/);
      assert.match(text, /foliosync_dlq_depth 1/);
      assert.match(
        text,
        /foliosync_http_request_duration_seconds_count\{method="GET",route="\/api\/bundles\/:username\/status",status="404"\} 1/,
      );
      // Unknown paths share one label; a handler's own answer is labelled by its pattern.
      assert.match(
        text,
        /foliosync_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1/,
      );
      assert.match(
        text,
        /foliosync_http_request_duration_seconds_count\{method="GET",route="\/api\/health",status="200"\} [1-9]/,
      );
      assert.ok(!text.includes("job_id=nope"));
      assert.ok(!text.includes("x1"));
    });
    await t.step("openapi generated from the zod schemas", async () => {
      const doc = await json(await g.req("/api/openapi.json"));
      assert.equal(doc.openapi, "3.1.0");
      for (
        const p of [
          "/api/bundles/{username}/refresh",
          "/api/bundles/{username}/status",
          "/api/bundles/{username}/events",
          "/api/bundles/{username}",
          "/api/bundles/{username}/{repo}",
          "/api/ai",
          "/api/webhooks/github",
          "/api/health",
          "/api/ready",
          "/api/metrics",
        ]
      ) assert.ok(doc.paths[p], p);
      const s = doc.components.schemas;
      assert.equal(s.RefreshBody.additionalProperties, false);
      assert.equal(s.AiBody.properties.query.maxLength, 500);
      assert.ok(s.JobRecord.properties.state.enum.includes("syncing"));
      assert.deepEqual(s.ErrorBody.required, ["error"]);
      assert.ok(s.BundleResponse.properties.data);
    });
    await t.step("status page", async () => {
      const r = await g.req("/");
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /text\/html/);
      const html = await r.text();
      assert.match(html, /EventSource/);
      assert.match(html, /Refreshing " \+ done \+ " of " \+ p\.total \+ " repos/);
      assert.match(html, /\/api\/ai/);
    });
  } finally {
    await g.close();
  }
});

Deno.test("ready → 503 JSON when storage or Redis is unreachable; faults → 500 JSON without internals", async () => {
  const g = await startTestGateway();
  try {
    const broken = { ...g.store, backend: "local" as const, ping: () => Promise.reject(new Error("disk on fire")) };
    const { createApp } = await import("../../gateway/app.ts");
    const { loadConfig } = await import("../../shared/config.ts");
    const config = loadConfig({ REDIS_URL: g.server.url, QUEUE_PREFIX: "gt" });
    const app = createApp({
      config,
      redis: g.redis,
      jobs: g.jobs,
      store: broken as never,
      ai: { answer: () => Promise.reject(new Error("secret internals at /srv/x.ts:12")) },
      logError: () => {},
      readyTimeoutMs: 300,
    });
    const r = await app.request("/api/ready");
    const body = await expectError(r, 503, "not_ready");
    assert.deepEqual(body.checks, { redis: "ok", storage: "unreachable" });
    assert.ok(!JSON.stringify(body).includes("fire"));
    const ai = await app.request("/api/ai", post({ query: "x", username: "octo" }));
    const b2 = await expectError(ai, 500, "internal");
    assert.ok(!JSON.stringify(b2).includes("secret"));
    // Redis down: ready says so, and requests still get JSON errors (5xx), never a crash.
    await g.server.stop();
    const r2 = await app.request("/api/ready");
    assert.equal(r2.status, 503);
    assert.equal((await json(r2)).checks.redis, "unreachable");
    const st = await app.request("/api/bundles/octo/status?job_id=abc");
    await expectError(st, 500, "internal");
  } finally {
    await g.close().catch(() => {});
  }
});
