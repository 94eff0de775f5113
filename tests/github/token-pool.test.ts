/**
 * The token pool (GITHUB_TOKENS): per-token quotas shared through Redis, the
 * token with the most quota left first, a refused token out of the pool,
 * waiting for the earliest reset when every token is spent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { RetryAfterError } from "../../shared/errors.ts";
import { GithubClient } from "../../workers/github/github-client.ts";
import { LIST_QUERY } from "../../workers/github/graphql.ts";
import { readTokenQuotas, tokenFingerprint } from "../../workers/github/token-pool.ts";
import { WorkerMetrics } from "../../workers/metrics.ts";
import { type FixtureServer, startFixtureServer } from "../support/fixture-server.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

let fx: FixtureServer;
let redis: RedisServer;
beforeAll(async () => {
  [fx, redis] = await Promise.all([startFixtureServer(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([fx?.stop(), redis?.stop()]);
});
beforeEach(async () => {
  await fx.reset();
  await redis.client().flushall();
});

/** Requests until the client gives up waiting (RetryAfterError): how many got an answer. */
async function requestsUntilSpent(gh: GithubClient, max: number): Promise<number> {
  for (let i = 0; i < max; i++) {
    const err = await gh.request("GET /users/{username}", { username: "yungryce" }).then(() => null, (e) => e);
    if (err instanceof RetryAfterError) return i;
    if (err) throw err;
  }
  return max;
}

describe("GitHub token pool", () => {
  test("three tokens carry three times one token's work", async () => {
    await fx.config({ rate_limit: 20, rate_window_s: 3600 });
    const one = new GithubClient({ baseUrl: fx.url, tokens: ["token-a"], maxRateWaitMs: 100 });
    expect(await requestsUntilSpent(one, 100)).toBe(20);

    await fx.reset();
    await fx.config({ rate_limit: 20, rate_window_s: 3600 });
    const three = new GithubClient({ baseUrl: fx.url, tokens: ["token-a", "token-b", "token-c"], maxRateWaitMs: 100 });
    expect(await requestsUntilSpent(three, 100)).toBe(60);
    const used = Object.values((await fx.stats()).tokens).map((t) => t.core).sort();
    expect(used).toEqual([20, 20, 20]);
  }, 30_000);

  test("quotas are shared through Redis: a second process sends to the token the first one left fuller", async () => {
    await fx.config({ rate_limit: 20, rate_window_s: 3600 });
    const key = "fs:github:quota";
    const first = new GithubClient({ baseUrl: fx.url, tokens: ["token-a"], redis: redis.client(), quotaKey: key });
    for (let i = 0; i < 15; i++) await first.request("GET /users/{username}", { username: "yungryce" });
    const second = new GithubClient({
      baseUrl: fx.url,
      tokens: ["token-a", "token-b"],
      redis: redis.client(),
      quotaKey: key,
    });
    await fx.resetStats();
    for (let i = 0; i < 10; i++) await second.request("GET /users/{username}", { username: "yungryce" });
    const s = await fx.stats();
    expect(s.tokens[tokenFingerprint("token-b")]?.core).toBe(10);
    expect(s.tokens[tokenFingerprint("token-a")]).toBeUndefined();
    const quotas = await readTokenQuotas(redis.client(), "fs");
    expect(quotas.map((q) => [q.token, q.core_remaining])).toEqual(
      [[tokenFingerprint("token-a"), 5], [tokenFingerprint("token-b"), 10]].sort((x, y) =>
        String(x[0]).localeCompare(String(y[0]))
      ),
    );
  }, 30_000);

  test("a token GitHub refuses leaves the pool for every process, logged by fingerprint, never the token", async () => {
    const bad = "ghp_bad_secret_token_value";
    await fx.config({ bad_tokens: [bad] });
    const logs: string[] = [];
    const opts = { baseUrl: fx.url, tokens: [bad, "good-token"], redis: redis.client(), quotaKey: "fs:github:quota" };
    const gh = new GithubClient({ ...opts, log: (m) => logs.push(m) });
    for (let i = 0; i < 3; i++) await gh.request("GET /users/{username}", { username: "yungryce" });
    expect((await fx.stats()).unauthorized).toBe(1);
    expect(logs.some((l) => l.includes(tokenFingerprint(bad)) && l.includes("removed from the pool"))).toBe(true);
    expect(logs.join("\n")).not.toContain(bad);
    const dead = (await readTokenQuotas(redis.client())).find((q) => q.token === tokenFingerprint(bad));
    expect(dead?.dead).toContain("authentication failed (401");

    const other = new GithubClient(opts); // another worker process
    await other.request("GET /users/{username}", { username: "yungryce" });
    expect((await fx.stats()).unauthorized).toBe(1);

    const onlyBad = new GithubClient({ baseUrl: fx.url, tokens: [bad] });
    const err = await onlyBad.request("GET /users/{username}", { username: "yungryce" }).then(() => null, (e) => e);
    expect((err as Error).message).toContain("none is left in the pool");
  }, 30_000);

  test("every token spent: work waits for the earliest reset, then goes on", async () => {
    await fx.config({ rate_limit: 2, rate_window_s: 2 });
    const logs: string[] = [];
    const gh = new GithubClient({ baseUrl: fx.url, tokens: ["token-a", "token-b"], log: (m) => logs.push(m) });
    for (let i = 0; i < 5; i++) await gh.request("GET /users/{username}", { username: "yungryce" });
    expect(logs.some((l) => l.includes("every token's core quota is spent; waiting"))).toBe(true);
  }, 30_000);

  test(
    "GraphQL RATE_LIMITED (HTTP 200 with errors) waits for the reset; rateLimit feeds the token's quota",
    async () => {
      // The fixture builds GitHub's schema on its first GraphQL query: done before the quota window starts.
      await new GithubClient({ baseUrl: fx.url, tokens: ["warm-up"] }).graphql(LIST_QUERY, { login: "yungryce" }, {
        what: "warm-up",
      });
      await fx.config({ rate_limit: 2, rate_window_s: 3 });
      const gh = new GithubClient({ baseUrl: fx.url, tokens: ["token-a"], redis: redis.client() });
      const first = await gh.graphql<{ rateLimit: { remaining: number } }>(LIST_QUERY, {
        login: "yungryce",
        after: null,
      }, {
        what: "list",
      });
      expect(first.errors).toEqual([]);
      expect(first.data!.rateLimit.remaining).toBe(0);
      // Another process, not yet told the token is spent, asks anyway: GitHub answers RATE_LIMITED; it waits.
      const other = new GithubClient({ baseUrl: fx.url, tokens: ["token-a"] });
      const second = await other.graphql(LIST_QUERY, { login: "yungryce", after: null }, { what: "list" });
      expect(second.errors).toEqual([]);
      expect((await fx.stats()).rate_limited).toBe(1);
      expect(gh.graphqlPoints + other.graphqlPoints).toBe(4);
      const q = (await readTokenQuotas(redis.client())).find((t) => t.token === tokenFingerprint("token-a"));
      expect(q?.graphql_remaining).toBe(0);
    },
    30_000,
  );

  test("worker metrics show each pooled token's quota by fingerprint (never the token)", async () => {
    await fx.config({ rate_limit: 50, bad_tokens: ["refused-token"] });
    const gh = new GithubClient({
      baseUrl: fx.url,
      tokens: ["refused-token", "metrics-token"],
      redis: redis.client(),
      quotaKey: "fs:github:quota",
    });
    for (let i = 0; i < 3; i++) await gh.request("GET /users/{username}", { username: "yungryce" });
    const text = await new WorkerMetrics().render(redis.client(), "fs");
    const fp = tokenFingerprint("metrics-token");
    expect(text).toContain(`foliosync_github_token_quota_remaining{token="${fp}",resource="core"} 47`);
    expect(text).toContain(`foliosync_github_token_alive{token="${fp}"} 1`);
    expect(text).toContain(`foliosync_github_token_alive{token="${tokenFingerprint("refused-token")}"} 0`);
    expect(text).not.toContain("metrics-token");
  });

  test("without a token GraphQL is not offered", () => {
    const gh = new GithubClient({ baseUrl: fx.url });
    expect(gh.canGraphql).toBe(false);
    expect(new GithubClient({ baseUrl: fx.url, token: "t" }).canGraphql).toBe(true);
  });
});
