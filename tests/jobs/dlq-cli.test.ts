import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { bunBin, repoRoot } from "../support/paths.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = server.client();
});
afterAll(() => server.stop());

const dlq = (...args: string[]) =>
  spawnSync(bunBin, [join(repoRoot, "scripts", "dlq.ts"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, REDIS_URL: server.url },
    encoding: "utf8",
    timeout: 20_000,
  });

test("the DLQ CLI lists entries with their cause and replays them onto their queue", async () => {
  const jobs = new JobStore(redis);
  expect(dlq("list").stdout).toContain("empty");
  await jobs.deadLetter({
    queue: "sync",
    bee_job_id: "j1:monty",
    data: { repo: "monty" },
    error: "GitHub 502 for README",
  });
  await jobs.deadLetter({
    queue: "merge",
    bee_job_id: "j2:merge",
    data: { job_id: "j2" },
    error: "storage unreachable",
  });
  const list = dlq("list");
  expect(list.status).toBe(0);
  expect(list.stdout).toContain("GitHub 502 for README");
  expect(list.stdout).toContain("storage unreachable");
  expect(dlq("depth").stdout.trim()).toBe("2");
  expect(dlq("replay", "7").status).toBe(1);
  expect(dlq("replay", "nonsense").status).toBe(2);
  const r = dlq("replay", "--all");
  expect(r.stdout).toContain("replayed 2 of 2");
  expect(await jobs.dlqDepth()).toBe(0);
  expect(await redis.llen(queueKey("fs", "sync", "waiting"))).toBe(1);
  expect(await redis.llen(queueKey("fs", "merge", "waiting"))).toBe(1);
});
