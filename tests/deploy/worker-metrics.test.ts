/**
 * The worker metrics module on real parts: a real local blob store whose
 * faults are counted by backend and operation (an expected precondition
 * conflict is not a fault), and GitHub answers feeding the quota gauge.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PreconditionFailedError } from "../../shared/errors.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { instrumentStore, WorkerMetrics } from "../../workers/metrics.ts";

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
