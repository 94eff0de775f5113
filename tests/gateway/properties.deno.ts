// Property tests (fast-check): whatever arrives in a path, query or body,
// the gateway never answers 5xx and every error has the `{error:{code,
// message}}` shape. Real Redis and a real local store behind the app.
import assert from "node:assert/strict";
import fc from "fast-check";
import { publishBundle } from "../../shared/bundle-store.ts";
import { ErrorBody } from "../../shared/schemas/index.ts";
import { bundleOf, startTestGateway, type TestGateway } from "./harness.ts";

async function checkAnswer(res: Response, what: string) {
  assert.ok(res.status < 500, `${what} → ${res.status}`);
  const text = await res.text();
  if (res.status >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      assert.fail(`${what} → ${res.status} not JSON: ${text.slice(0, 100)}`);
    }
    assert.ok(ErrorBody.safeParse(body).success, `${what} → ${text.slice(0, 200)}`);
    assert.ok(!/\.ts:\d+/.test(text), `${what} leaked a stack: ${text.slice(0, 200)}`);
  }
}

/** A path segment from an arbitrary string: percent-encoded, or raw when it is URL-safe. */
const segment = fc.oneof(
  fc.string({ maxLength: 60 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 60 }).map((s) => {
    try {
      return encodeURIComponent(s);
    } catch {
      return "x"; // lone surrogates
    }
  }),
  fc.constantFrom("..%2f..%2fetc", "%2e%2e%2f", "%00", "a".repeat(40), "-x", "%E2%80%AE", "%ff", "%", "a%2Fb", "CON"),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/),
);

const withGateway = (name: string, fn: (g: TestGateway) => Promise<void>) =>
  Deno.test(name, async () => {
    const g = await startTestGateway({ RATE_LIMIT_PER_MIN: "100000" });
    try {
      await publishBundle(g.store, bundleOf("octo", "0123456789abcdef", ["alpha", "beta"], "2025-01-01T00:00:00Z"));
      await fn(g);
    } finally {
      await g.close();
    }
  });

withGateway("arbitrary usernames, repo names and job ids never give a 5xx", async (g) => {
  await fc.assert(
    fc.asyncProperty(segment, segment, fc.string({ maxLength: 80 }), async (u, r, jobId) => {
      const q = encodeURIComponent(jobId);
      for (
        const path of [
          `/api/bundles/${u}`,
          `/api/bundles/${u}/${r}`,
          `/api/bundles/${u}/repos/${r}`,
          `/api/bundles/${u}/status?job_id=${q}`,
          `/api/bundles/octo/${r}`,
          `/api/bundles/octo/status?job_id=${q}`,
        ]
      ) {
        await checkAnswer(await g.req(path), `GET ${path}`);
      }
      // an event stream opened for a random id is either refused or (for a real job) streamed: only refusals here
      const ev = await g.req(`/api/bundles/${u}/events?job_id=${q}`);
      if (ev.status === 200) await ev.body?.cancel();
      else await checkAnswer(ev, "GET events");
      await checkAnswer(await g.req(`/api/bundles/${u}/refresh`, { method: "POST" }), `POST refresh ${u}`);
    }),
    { numRuns: 150 },
  );
});

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const aiLike = fc.record(
  {
    query: fc.oneof(fc.string({ maxLength: 600 }), jsonValue),
    username: fc.oneof(fc.constant("octo"), fc.string({ maxLength: 45 }), jsonValue),
    limit: fc.oneof(fc.integer({ min: -5, max: 60 }), fc.double(), jsonValue),
    extra: jsonValue,
  },
  { requiredKeys: [] },
);

withGateway("arbitrary JSON bodies on /api/ai and refresh never give a 5xx", async (g) => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(aiLike, jsonValue),
      fc.constantFrom("application/json", "text/plain", "", "application/json; charset=utf-8"),
      async (body, ct) => {
        const init = (b: unknown): RequestInit => ({
          method: "POST",
          headers: ct ? { "content-type": ct } : {},
          body: JSON.stringify(b),
        });
        await checkAnswer(await g.req("/api/ai", init(body)), `POST /api/ai ${JSON.stringify(body).slice(0, 100)}`);
        await checkAnswer(
          await g.req("/api/bundles/octo/refresh", init(body)),
          `POST refresh ${JSON.stringify(body).slice(0, 100)}`,
        );
      },
    ),
    { numRuns: 300 },
  );
});

withGateway("arbitrary bytes as a body never give a 5xx", async (g) => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 30 }), async (bytes, event) => {
      const headers = { "content-type": "application/json" };
      await checkAnswer(await g.req("/api/ai", { method: "POST", headers, body: bytes }), "POST /api/ai bytes");
      await checkAnswer(
        await g.req("/api/bundles/octo/refresh", { method: "POST", headers, body: bytes }),
        "POST refresh bytes",
      );
      let ev = "push";
      try {
        new Headers({ "x-github-event": event });
        ev = event;
      } catch { /* not a valid header value */ }
      await checkAnswer(
        await g.req("/api/webhooks/github", {
          method: "POST",
          headers: { ...headers, "x-github-event": ev },
          body: bytes,
        }),
        "POST webhook bytes",
      );
    }),
    { numRuns: 200 },
  );
});
