// Who may call what, against the real gateway app, real Redis and a real local store.
import assert from "node:assert/strict";
import { KeyRegistry } from "../../shared/auth/api-keys.ts";
import { loadConfig } from "../../shared/config.ts";
import { signStatusWebhook } from "../../shared/webhooks/signature.ts";
import { verifyStatusWebhook } from "../../shared/webhooks/index.ts";
import { hubSignature } from "../../gateway/routes/webhooks.ts";
import { hmacSha256Hex, prefixed, verifyHmacSha256Hex } from "../../shared/webhooks/hmac.ts";
import { json, serve, startTestGateway } from "../gateway/harness.ts";

const JSON_CT = { "content-type": "application/json" };
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { ...JSON_CT, ...headers },
  body: JSON.stringify(body),
});

Deno.test("scoped keys: 202 in scope, 401 without or unknown, 403 out of scope; run-time keys as hashes", async () => {
  const g = await startTestGateway({ API_KEYS: "alice-bob-key:alice|bob,admin-key-1:*", RATE_LIMIT_PER_MIN: "1000" });
  try {
    const r = (u: string, h: Record<string, string> = {}) => g.req(`/api/bundles/${u}/refresh`, post({}, h));
    assert.equal((await r("alice", bearer("alice-bob-key"))).status, 202);
    assert.equal((await r("BOB", bearer("alice-bob-key"))).status, 202);
    const out = await r("carol", bearer("alice-bob-key"));
    assert.equal(out.status, 403);
    assert.equal((await json(out)).error.code, "forbidden");
    assert.equal((await r("carol", bearer("admin-key-1"))).status, 202);
    assert.equal((await r("dave")).status, 401);
    assert.equal((await r("dave", bearer("no-such-key"))).status, 401);

    const reg = new KeyRegistry(g.redis, "gt");
    const made = await reg.create("erin");
    assert.equal((await r("erin", bearer(made.key))).status, 202);
    assert.equal((await r("alice", bearer(made.key))).status, 403);
    // Stored as a hash only: no Redis value or key holds the key.
    for (const k of await g.redis.keys("*")) {
      assert.ok(!k.includes(made.key));
      const type = await g.redis.type(k);
      if (type === "hash") assert.ok(!JSON.stringify(await g.redis.hgetall(k)).includes(made.key));
      if (type === "string") assert.ok(!(await g.redis.get(k))!.includes(made.key));
    }
    assert.equal(await reg.revoke(made.id), true);
    assert.equal((await r("erin", bearer(made.key))).status, 401);
  } finally {
    await g.close();
  }
});

Deno.test("run-time keys alone switch keys on; reads stay public unless READ_ACCESS=key", async () => {
  const open = await startTestGateway({ RATE_LIMIT_PER_MIN: "1000" });
  const locked = await startTestGateway({ API_KEYS: "reader-key-1:octo", READ_ACCESS: "key" });
  try {
    assert.equal((await open.req("/api/bundles/octo/refresh", post({}))).status, 202);
    const k = await new KeyRegistry(open.redis, "gt").create("*");
    await new Promise((r) => setTimeout(r, 1100)); // the "any run-time key" answer is cached for a second
    assert.equal((await open.req("/api/bundles/octo2/refresh", post({}))).status, 401);
    assert.equal((await open.req("/api/bundles/octo2/refresh", post({}, bearer(k.key)))).status, 202);
    // Reads are public there.
    assert.equal((await open.req("/api/bundles/octo")).status, 404);

    const { job } = await locked.jobs.requestRefresh({ username: "octo" });
    const reads: [string, RequestInit?][] = [
      [`/api/bundles/octo/status?job_id=${job.job_id}`],
      ["/api/bundles/octo"],
      ["/api/bundles/octo/some-repo"],
      ["/api/ai", post({ query: "what", username: "octo" })],
    ];
    for (const [path, init] of reads) {
      const none = await locked.req(path, init);
      assert.equal(none.status, 401, path);
      await none.body?.cancel();
      const h = { ...(init?.headers as Record<string, string> ?? {}), ...bearer("reader-key-1") };
      const ok = await locked.req(path, { ...init, headers: h });
      assert.ok([200, 404].includes(ok.status), `${path}: ${ok.status}`);
      await ok.body?.cancel();
    }
    const other = await locked.req("/api/bundles/someone/status?job_id=x1", { headers: bearer("reader-key-1") });
    assert.equal(other.status, 403);
    await other.body?.cancel();
    const ev = await locked.req(`/api/bundles/octo/events?job_id=${job.job_id}`);
    assert.equal(ev.status, 401);
    await ev.body?.cancel();
  } finally {
    await open.close();
    await locked.close();
  }
});

Deno.test("callbacks: per client, never shown; a second client's joins; no signing secret → 400", async () => {
  const g = await startTestGateway(
    { WEBHOOK_SIGNING_SECRET: "signing-secret-access", RATE_LIMIT_PER_MIN: "1000" },
    { trustedProxyHops: 1 },
  );
  const off = await startTestGateway({});
  const http = serve(g.app);
  try {
    const from = (ip: string, url: string) => post({ callback_url: url }, { "x-forwarded-for": ip });
    const a = await json(
      await g.req("/api/bundles/octo/refresh", from("203.0.113.1", "https://a.example.com/h?t=tok-a")),
    );
    const b = await json(
      await g.req("/api/bundles/octo/refresh", from("203.0.113.2", "https://b.example.com/h?t=tok-b")),
    );
    assert.equal(b.job_id, a.job_id);
    assert.equal(await g.jobs.callbacks.count(a.job_id), 2);
    assert.deepEqual(await g.jobs.callbacks.pendingStates(a.job_id, "ip:203.0.113.2"), ["queued"]);
    // At most a few receivers per job.
    for (let i = 3; i <= 5; i++) {
      const r = await g.req("/api/bundles/octo/refresh", from(`203.0.113.${i}`, `https://c${i}.example.com/h`));
      assert.equal(r.status, 202);
      await r.body?.cancel();
    }
    const full = await g.req("/api/bundles/octo/refresh", from("203.0.113.9", "https://z.example.com/h"));
    assert.equal(full.status, 429);
    assert.equal((await json(full)).error.code, "too_many_callbacks");
    // Status and the event stream never show a callback URL.
    const status = await (await g.req(`/api/bundles/octo/status?job_id=${a.job_id}`)).text();
    const ctl = new AbortController();
    const ev = await fetch(`${http.url}/api/bundles/octo/events?job_id=${a.job_id}`, { signal: ctl.signal });
    const reader = ev.body!.getReader();
    const { value } = await reader.read();
    ctl.abort();
    await reader.cancel().catch(() => {});
    const first = new TextDecoder().decode(value);
    for (const text of [status, first]) {
      assert.ok(!/example\.com|tok-a|tok-b|callback/.test(text), text);
    }
    const refused = await off.req("/api/bundles/octo/refresh", post({ callback_url: "https://a.example.com/h" }));
    assert.equal(refused.status, 400);
    assert.match((await json(refused)).error.message, /WEBHOOK_SIGNING_SECRET/);
  } finally {
    await http.stop();
    await g.close();
    await off.close();
  }
});

Deno.test("GitHub webhook: a status webhook replayed (JSON and form) → 401; a delivery id twice → one job", async () => {
  const ghSecret = "github-webhook-secret-2";
  const signing = "status-signing-secret-2";
  const g = await startTestGateway({ GITHUB_WEBHOOK_SECRET: ghSecret, WEBHOOK_SIGNING_SECRET: signing });
  try {
    // What a receiver got: a job object signed with the status-webhook secret.
    const body = JSON.stringify({
      ref: "refs/heads/main",
      repository: { name: "alpha", default_branch: "main", owner: { login: "victim" } },
    });
    const ts = Math.floor(Date.now() / 1000);
    const sig = await signStatusWebhook(signing, ts, body);
    assert.equal(
      await verifyStatusWebhook(signing, { "x-foliosync-timestamp": String(ts), "x-foliosync-signature": sig }, body),
      true,
    );
    for (
      const [ct, raw] of [
        ["application/json", body],
        ["application/x-www-form-urlencoded", "payload=" + encodeURIComponent(body)],
      ]
    ) {
      for (const header of [sig, await hubSignature(signing, new TextEncoder().encode(raw))]) {
        const r = await g.req("/api/webhooks/github", {
          method: "POST",
          headers: {
            "content-type": ct,
            "x-github-event": "push",
            "x-github-delivery": crypto.randomUUID(),
            "x-hub-signature-256": header,
          },
          body: raw,
        });
        assert.equal(r.status, 401, ct);
        await r.body?.cancel();
      }
    }
    assert.equal(await g.redis.exists("gt:lock:victim"), 0);

    const delivery = crypto.randomUUID();
    const send = async () => {
      const bytes = new TextEncoder().encode(body);
      return await g.req("/api/webhooks/github", {
        method: "POST",
        headers: {
          ...JSON_CT,
          "x-github-event": "push",
          "x-github-delivery": delivery,
          "x-hub-signature-256": await hubSignature(ghSecret, bytes),
        },
        body: bytes,
      });
    };
    const first = await send();
    assert.equal(first.status, 202);
    const job = (await json(first)).job_id;
    // Remembered under the key shared/keys.ts builds, with an expiry.
    const marker = g.jobs.keys.githubDelivery(delivery);
    assert.equal(marker, `gt:gh-delivery:${delivery}`);
    assert.ok((await g.redis.ttl(marker)) > 6 * 24 * 3600);
    await g.jobs.setState(job, "victim", "failed", { error: "x" }); // the refresh is over: a new push would start one
    const again = await send();
    assert.equal(again.status, 200);
    assert.equal((await json(again)).duplicate, true);
    assert.equal(await g.redis.exists("gt:lock:victim"), 0);
  } finally {
    await g.close();
  }
});

Deno.test("one HMAC-SHA256 helper for both directions: published vectors, either hex case, malformed → refused", async () => {
  // RFC 4231 test case 2, and GitHub's documented X-Hub-Signature-256 example.
  assert.equal(
    await hmacSha256Hex("Jefe", "what do ya want for nothing?"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  const gh = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  const hello = new TextEncoder().encode("Hello, World!");
  assert.equal(await hubSignature("It's a Secret to Everybody", hello), `sha256=${gh}`);
  assert.equal(await verifyHmacSha256Hex("It's a Secret to Everybody", hello, gh.toUpperCase()), true);
  for (const bad of ["", gh.slice(1), gh + "0", "z" + gh.slice(1), gh.replace(/.$/, "0")]) {
    assert.equal(await verifyHmacSha256Hex("It's a Secret to Everybody", hello, bad), false, bad);
  }
  // The status-webhook signature is the same MAC over "{timestamp}.{body}", checked over the raw bytes.
  const body = new Uint8Array([0x7b, 0xff, 0x7d]); // not UTF-8: a decode and re-encode would change it
  const ts = Math.floor(Date.now() / 1000);
  const sig = `sha256=${await hmacSha256Hex("status-secret-0123456", prefixed(`${ts}.`, body))}`;
  const headers = { "x-foliosync-timestamp": String(ts), "x-foliosync-signature": sig };
  assert.equal(await verifyStatusWebhook("status-secret-0123456", headers, body), true);
  assert.equal(await verifyStatusWebhook("status-secret-0123456", headers, new TextDecoder().decode(body)), false);
  assert.equal(
    await verifyStatusWebhook("status-secret-0123456", { ...headers, "x-foliosync-timestamp": "1" }, body),
    false,
  );

  // The gateway takes GitHub's header in either case and refuses anything else.
  const g = await startTestGateway({ GITHUB_WEBHOOK_SECRET: "github-webhook-secret-3" });
  try {
    const raw = new TextEncoder().encode(JSON.stringify({ zen: "hi" }));
    const mac = await hmacSha256Hex("github-webhook-secret-3", raw);
    const ping = (sig: string) =>
      g.req("/api/webhooks/github", {
        method: "POST",
        headers: {
          ...JSON_CT,
          "x-github-event": "ping",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": sig,
        },
        body: raw,
      });
    for (const ok of [`sha256=${mac}`, `sha256=${mac.toUpperCase()}`, ` sha256=${mac} `]) {
      const r = await ping(ok);
      assert.equal(r.status, 200, ok);
      await r.body?.cancel();
    }
    for (const bad of [mac, `sha1=${mac}`, `sha256=${mac.slice(2)}`, `sha256=${mac}00`, "sha256=", ""]) {
      const r = await ping(bad);
      assert.equal(r.status, 401, bad);
      await r.body?.cancel();
    }
  } finally {
    await g.close();
  }
});

Deno.test("config: the two webhook secrets must differ; errors name the variable, never the value", () => {
  const same = "same-secret-for-both-1";
  assert.throws(() => loadConfig({ GITHUB_WEBHOOK_SECRET: same, WEBHOOK_SIGNING_SECRET: same }), /must differ/);
  for (
    const env of [
      { REDIS_URL: "http://user:hunter2-password@redis.example:6379" },
      { LLM_API_URL: "not a url with sk-secret-key-123" },
      { API_KEYS: "sk-secret-key-123" },
      { PORT: "sk-secret-key-123" },
    ]
  ) {
    try {
      loadConfig(env);
      assert.fail("should throw");
    } catch (err) {
      const msg = (err as Error).message;
      assert.match(msg, new RegExp(Object.keys(env)[0]));
      assert.ok(!msg.includes("hunter2") && !msg.includes("sk-secret-key-123"), msg);
    }
  }
  assert.throws(() => loadConfig({ WEBHOOK_SECRET: "x" }), /GITHUB_WEBHOOK_SECRET/);
});
