/**
 * The worker metrics module on real parts: a real local blob store whose
 * faults are counted by backend and operation (an expected precondition
 * conflict is not a fault), GitHub answers feeding the quota gauge, and
 * each pooled token's quota (by fingerprint) read from Redis at scrape time.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreconditionFailedError } from "../../shared/errors.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { GithubClient } from "../../workers/github/github-client.ts";
import { tokenFingerprint } from "../../workers/github/token-pool.ts";
import { instrumentStore, WorkerMetrics } from "../../workers/metrics.ts";
import { startFixtureServer } from "../support/fixture-server.ts";
import { startRedis } from "../support/redis.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const line = (text: string, prefix: string) => text.split("\n").find((l) => l.startsWith(prefix));

test("storage faults are counted by backend and operation; precondition conflicts are not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-metrics-"));
  dirs.push(dir);
  const metrics = new WorkerMetrics();
  const store = instrumentStore(await LocalStore.open(dir), metrics);
  const { version } = await store.put("users/a.json", "{}");
  await store.put("users/a.json", "{}", { ifVersion: version });
  // A stale version: the expected race of two writers, not a fault.
  await expect(store.put("users/a.json", "{}", { ifVersion: version })).rejects.toBeInstanceOf(
    PreconditionFailedError,
  );
  // A key under a file: the filesystem refuses (a real fault).
  await expect(store.put("users/a.json/b.json", "{}")).rejects.toThrow();
  expect((await store.get("users/a.json"))?.data).toBeDefined();
  const text = await metrics.render(undefined, "fs");
  expect(line(text, 'foliosync_storage_errors_total{backend="local",op="put"}')).toEndWith(" 1");
  expect(line(text, 'foliosync_storage_errors_total{backend="local",op="get"}')).toBeUndefined();
  expect(line(text, "foliosync_worker_redis_up")).toBe("foliosync_worker_redis_up 0");
  await store.close?.();
});

test("GitHub answers: requests by route and status, quota from the last x-ratelimit-remaining", async () => {
  const metrics = new WorkerMetrics();
  metrics.githubResponse("GET /users/{username}/repos", 200, "4999");
  metrics.githubResponse("GET /users/{username}/repos", 200, "4998");
  metrics.githubResponse("GET /repos/{owner}/{repo}/readme", 404, "4997");
  metrics.githubResponse("GET /repos/{owner}/{repo}/readme", 0, undefined); // no answer: quota unchanged
  const text = await metrics.render(undefined, "fs");
  expect(line(text, 'foliosync_github_requests_total{route="GET /users/{username}/repos",status="200"}'))
    .toEndWith(" 2");
  expect(line(text, 'foliosync_github_requests_total{route="GET /repos/{owner}/{repo}/readme",status="0"}'))
    .toEndWith(" 1");
  expect(line(text, "foliosync_github_quota_remaining ")).toBe("foliosync_github_quota_remaining 4997");
});

test("each pooled GitHub token's quota by fingerprint, read from the pool's shared state in Redis", async () => {
  const redis = await startRedis();
  const github = await startFixtureServer({ rateLimit: 500 });
  try {
    const [a, b, bad] = ["metrics-token-a", "metrics-token-b", "metrics-token-refused"];
    await github.config({ bad_tokens: [bad] });
    // Another worker process's client: what it learns from GitHub lands in Redis.
    const pool = new GithubClient({
      baseUrl: github.url,
      tokens: [a, b],
      redis: redis.client(),
      quotaKey: "mx:github:quota",
    });
    for (let i = 0; i < 5; i++) await pool.request("GET /users/{username}/repos", { username: "yungryce" });
    await pool.graphql("query { rateLimit { cost remaining resetAt } }", {}, { what: "the quota" });
    const refused = new GithubClient({
      baseUrl: github.url,
      tokens: [bad],
      redis: redis.client(),
      quotaKey: "mx:github:quota",
    });
    await expect(refused.request("GET /users/{username}/repos", { username: "yungryce" })).rejects.toThrow();
    const spent = (await github.stats()).tokens;

    const text = await new WorkerMetrics().render(redis.client(), "mx");
    for (const t of [a, b, bad]) expect(text).not.toContain(t);
    for (const t of [a, b]) {
      const fp = tokenFingerprint(t);
      expect(line(text, `foliosync_github_token_quota_remaining{token="${fp}",resource="core"}`))
        .toEndWith(` ${500 - spent[fp].core}`);
      expect(line(text, `foliosync_github_token_alive{token="${fp}"}`)).toEndWith(" 1");
    }
    const gql = text.split("\n").filter((l) =>
      l.startsWith("foliosync_github_token_quota_remaining{") && l.includes('resource="graphql"')
    );
    expect(gql.length).toBe(1);
    expect(line(text, `foliosync_github_token_alive{token="${tokenFingerprint(bad)}"}`)).toEndWith(" 0");
  } finally {
    await github.stop();
    await redis.stop();
  }
});
