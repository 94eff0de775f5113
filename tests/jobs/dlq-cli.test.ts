import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { repoRoot } from "../support/paths.ts";
import { type RedisServer, startRedis } from "../support/redis.ts";

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = server.client();
});
afterAll(() => server.stop());

// `npm run dlq -- ARGS` is package.json's `dlq` script with ARGS appended, run by sh in the repository root.
const script: string = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).scripts.dlq;
const dlq = (...args: string[]) =>
  spawnSync("sh", ["-c", `${script} "$@"`, "dlq", ...args], {
    cwd: repoRoot,
    env: { ...process.env, REDIS_URL: server.url },
    encoding: "utf8",
    timeout: 20_000,
  });

test("npm run dlq is `foliosync dlq`: lists entries with their cause, replays them onto their queue", async () => {
  expect(script).toContain("scripts/cli/main.ts dlq");
  const jobs = new JobStore(redis);
  expect(dlq("list").stdout).toContain("empty");
  expect(dlq().stdout).toContain("empty"); // no command: list
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
  expect(dlq().stdout).toContain("storage unreachable");
  expect(dlq("depth").stdout.trim()).toBe("2");
  // The CLI's exit codes (scripts/cli/exit-codes.ts): 3 no such entry, 2 a usage mistake.
  expect(dlq("replay", "7").status).toBe(3);
  expect(dlq("replay", "nonsense").status).toBe(2);
  expect(dlq("--no-such-flag").status).toBe(2);
  const r = dlq("replay", "--all");
  expect(r.stdout).toContain("replayed 2 of 2");
  expect(await jobs.dlqDepth()).toBe(0);
  expect(await redis.llen(queueKey("fs", "sync", "waiting"))).toBe(1);
  expect(await redis.llen(queueKey("fs", "merge", "waiting"))).toBe(1);
});
