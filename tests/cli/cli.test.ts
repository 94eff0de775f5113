/**
 * The real `foliosync` bin against a running stack (gateway, worker process,
 * Redis, GitHub fixture server): progress output, --json shapes, exit codes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { queueKey } from "../../shared/jobs/queue-names.ts";
import { JobRecord } from "../../shared/schemas/job.ts";
import { GithubClient } from "../../workers/github/github-client.ts";
import { tokenFingerprint } from "../../workers/github/token-pool.ts";
import { startGateway } from "../support/gateway.ts";
import { repoRoot } from "../support/paths.ts";
import { cliBin, type OpsStack, startOpsStack } from "../support/ops-stack.ts";

// deno-lint-ignore no-control-regex -- escape codes are what must be absent
const ESC = /\x1b/;

let s: OpsStack;
beforeAll(async () => {
  s = await startOpsStack({ latencyMs: 2 });
}, 90_000);
afterAll(async () => {
  await s?.stop();
});

test("--help works for every command and subcommand; a usage error exits 2", async () => {
  const paths = [[], ["refresh"], ["dlq", "replay"], ["workers"], ["model", "rollback"], ["keys", "create"]];
  for (const p of paths) {
    const r = await s.cli([...p, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: foliosync${p.length ? " " + p.join(" ") : ""}`);
    expect(r.stdout).not.toMatch(ESC);
  }
  const top = await s.cli(["--help"]);
  expect(top.stdout).toContain("Exit codes:");
  expect((await s.cli(["juggle"])).code).toBe(2);
  expect((await s.cli(["refresh"])).code).toBe(2); // missing <user>
  expect((await s.cli(["refresh", "-bad-"])).code).toBe(2);
  expect((await s.cli(["ask", "yungryce", "x", "--limit", "0"])).code).toBe(2);
  expect((await s.cli(["dlq", "list", "--queue", "nope"])).code).toBe(2);
}, 120_000);

test("refresh --wait without a terminal: plain progress lines to the total, then the outcome; exit 0", async () => {
  const r = await s.cli(["refresh", "yungryce", "--wait"]);
  expect(r.code).toBe(0);
  expect(r.stdout + r.stderr).not.toMatch(ESC);
  expect(r.stderr).toMatch(/^job [0-9a-f-]{36}$/m);
  const lines = r.stderr.trim().split("\n");
  const syncing = lines.filter((l) => l.startsWith("syncing "));
  expect(syncing.length).toBeGreaterThan(0);
  expect(syncing.length).toBeLessThanOrEqual(12); // one per tenth, not one per repo
  for (const l of syncing) expect(l).toMatch(/^syncing \d+\/48 \d+%( ETA \d+:\d\d)? — refreshing \d+ of 48 repos/);
  // The counts only rise, and the last lines say all 48 are done.
  const counts = syncing.map((l) => Number(l.match(/ (\d+)\/48/)![1]));
  for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
  expect(lines.some((l) => /^(merging|completed) 48\/48 100%/.test(l))).toBe(true);
  expect(r.stdout).toMatch(/bundle ready: 48 of 48 repos refreshed/);
}, 120_000);

test("refresh --json: the 202 object; with --wait: only the final job object on stdout", async () => {
  const started = await s.cli(["refresh", "sindresorhus", "--json"]);
  expect(started.code).toBe(0);
  const accepted = JSON.parse(started.stdout);
  expect(Object.keys(accepted).sort()).toEqual(["events_url", "job_id", "status", "status_url"]);
  expect(accepted.status).toBe("processing");

  const waited = await s.cli(["refresh", "sindresorhus", "--wait", "--json"]);
  expect(waited.code).toBe(0);
  expect(waited.stderr).toBe("");
  const job = JobRecord.parse(JSON.parse(waited.stdout));
  // The request joined the refresh in flight (same job) or found it done.
  expect(["completed", "fresh"]).toContain(job.state);
  if (job.state === "completed") {
    expect(job.job_id).toBe(accepted.job_id);
    expect(job.progress).toMatchObject({ total: 120, completed: 120, pending: 0, percentage: 100 });
  }

  const st = await s.cli(["status", "sindresorhus", accepted.job_id, "--json"]);
  expect(st.code).toBe(0);
  const stJob = JobRecord.parse(JSON.parse(st.stdout));
  expect(stJob.job_id).toBe(accepted.job_id);
  const human = await s.cli(["status", "sindresorhus", accepted.job_id]);
  expect(human.stdout).toContain(accepted.job_id);
  expect(human.stdout).toMatch(/120\/120 \(100%\)/);

  expect((await s.cli(["status", "sindresorhus", "00000000-0000-0000-0000-000000000000"])).code).toBe(3);
  expect((await s.cli(["status", "yungryce", accepted.job_id])).code).toBe(3); // another user's job
  expect((await s.cli(["status", "sindresorhus", "../etc"])).code).toBe(2);
}, 120_000);

test("refresh --wait on a terminal draws one bar in place with an ETA (script gives it a pty)", async () => {
  const cmd = `node ${cliBin} refresh yungryce --force --wait`;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn("script", ["-qefc", cmd, "/dev/null"], {
      cwd: repoRoot,
      env: { ...process.env, ...s.env, TERM: "xterm", NO_COLOR: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let o = "";
    child.stdout.on("data", (d) => (o += d.toString()));
    child.stderr.on("data", (d) => (o += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(o) : reject(new Error(`exit ${code}: ${o}`))));
  });
  expect(out).toContain("\r\x1b[2K");
  expect(out).toMatch(/syncing\s+\[[█░]{24}\]\s+\d+\/48 repos/);
  expect(out).toMatch(/\[█{24}\]\s+48\/48 repos\s+100%/);
  expect(out).toContain("bundle ready: 48 of 48 repos refreshed");
}, 90_000);

test("bundle: a readable table, --json is the API's bundle; unknown user exits 3", async () => {
  const human = await s.cli(["bundle", "yungryce"]);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^yungryce: 48 repositories, \d+ documented/);
  expect(human.stdout).toMatch(/^NAME\s+LANGUAGE\s+DOCS\s+DESCRIPTION$/m);
  const json = JSON.parse((await s.cli(["bundle", "yungryce", "--json"])).stdout);
  expect(json.username).toBe("yungryce");
  expect(json.data.length).toBe(48);
  expect(Object.keys(json).sort()).toEqual(["data", "fingerprint", "last_modified", "username"]);
  for (const repo of json.data.slice(0, 5)) expect(human.stdout).toContain(repo.name);
  const missing = await s.cli(["bundle", "nosuchuser"]);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain("no bundle for nosuchuser");
}, 120_000);

test("ask: ranked repositories as a table and the answer; --json is the API's answer", async () => {
  const human = await s.cli(["ask", "yungryce", "which projects use Flask?", "--limit", "3"]);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^#\s+REPOSITORY\s+SCORE$/m);
  expect(human.stdout).toMatch(/^1\s+\S+\s+\d\.\d{3}$/m);
  expect(human.stdout).toMatch(/\(48 repositories searched; model \S+\)/);
  const json = JSON.parse((await s.cli(["ask", "yungryce", "which projects use Flask?", "--json"])).stdout);
  expect(Object.keys(json)).toEqual(
    expect.arrayContaining(["response", "repositories_used", "total_repositories", "query", "model"]),
  );
  expect(json.repositories_used.length).toBeGreaterThan(0);
  expect((await s.cli(["ask", "nosuchuser", "flask"])).code).toBe(3);
}, 120_000);

test("workers: queue depths, this worker process and each pooled token's quota from Redis, never a token", async () => {
  // Worker-side state: a pool of two tokens answered by GitHub, and one GitHub refused.
  const [a, b, bad] = ["cli-pool-token-a", "cli-pool-token-b", "cli-pool-token-refused"];
  await s.github.config({ bad_tokens: [bad] });
  try {
    const pool = new GithubClient({ baseUrl: s.github.url, tokens: [a, b], redis: s.redis.client() });
    for (let i = 0; i < 5; i++) await pool.request("GET /users/{username}/repos", { username: "yungryce" });
    await pool.graphql("query { rateLimit { cost remaining resetAt } }", {}, { what: "the quota" });
    const refused = new GithubClient({ baseUrl: s.github.url, tokens: [bad], redis: s.redis.client() });
    await expect(refused.request("GET /users/{username}/repos", { username: "yungryce" })).rejects.toThrow();
  } finally {
    await s.github.config({ bad_tokens: [] });
  }
  const fixture = await s.github.stats();
  const own = "cli-own-token-never-used";

  const r = await s.cli(["workers", "--json"], { GITHUB_TOKEN: own, GITHUB_TOKENS: `${a},${b}` });
  expect(r.code).toBe(0);
  for (const t of [a, b, bad, own]) expect(r.stdout + r.stderr).not.toContain(t);
  const w = JSON.parse(r.stdout);
  expect(w.queues.map((q: { queue: string }) => q.queue)).toEqual(["plan", "sync", "merge", "train", "notify"]);
  for (const q of w.queues) expect(Object.keys(q).sort()).toEqual(["active", "dead", "delayed", "queue", "waiting"]);
  const mine = w.workers.find((x: { pid: number }) => x.pid === s.worker!.child.pid);
  expect(mine.roles).toEqual(["plan", "sync", "merge", "notify"]);
  const byFp = new Map(w.github.tokens.map((t: { token: string }) => [t.token, t]));
  expect([...byFp.keys()].sort()).toEqual([a, b, bad].map(tokenFingerprint).sort());
  // What the pool's state says is what GitHub (the fixture) counted for each token.
  for (const t of [a, b]) {
    const row = byFp.get(tokenFingerprint(t)) as { alive: boolean; core: { remaining: number; resets_at: string } };
    expect(row.alive).toBe(true);
    expect(row.core.remaining).toBe(fixture.rate.limit - fixture.tokens[tokenFingerprint(t)].core);
    expect(Date.parse(row.core.resets_at)).toBeGreaterThan(Date.now());
  }
  expect(w.github.tokens.filter((t: { graphql: unknown }) => t.graphql !== null).length).toBe(1);
  expect(byFp.get(tokenFingerprint(bad))).toMatchObject({ alive: false, dead_reason: expect.stringContaining("401") });
  // The CLI sent GitHub nothing with its own token (nor any request at all).
  const after = await s.github.stats();
  expect(after.tokens[tokenFingerprint(own)]).toBeUndefined();
  expect(after.total).toBe(fixture.total);

  const human = await s.cli(["workers"]);
  expect(human.stdout).toMatch(/^QUEUE\s+WAITING\s+ACTIVE\s+DELAYED\s+DEAD$/m);
  expect(human.stdout).toMatch(/^TOKEN\s+CORE_LEFT\s+CORE_RESETS\s+GRAPHQL_LEFT\s+GRAPHQL_RESETS\s+STATE$/m);
  expect(human.stdout).toMatch(new RegExp(`^${tokenFingerprint(a)}\\s+\\d+\\s+\\S+Z\\s+.*live$`, "m"));
  expect(human.stdout).toMatch(new RegExp(`^${tokenFingerprint(bad)}\\s+.*refused: authentication failed`, "m"));
  expect((await s.cli(["workers"], { REDIS_URL: "redis://127.0.0.1:1" })).code).toBe(4);
}, 120_000);

test("dlq list/depth/replay with --queue, --json shapes and exit codes", async () => {
  const redis = s.redis.client();
  const jobs = new JobStore(redis);
  await jobs.deadLetter({
    queue: "sync",
    bee_job_id: "j1:monty",
    data: { repo: "monty" },
    error: "GitHub 502\x1b[31m",
  });
  await jobs.deadLetter({ queue: "merge", bee_job_id: "j2:merge", data: { job_id: "j2" }, error: "storage down" });
  await jobs.deadLetter({ queue: "sync", bee_job_id: "j3:flask", data: { repo: "flask" }, error: "GitHub 500" });

  const list = JSON.parse((await s.cli(["dlq", "list", "--json"])).stdout);
  expect(list.total).toBe(3);
  expect(list.entries.map((e: { index: number }) => e.index)).toEqual([0, 1, 2]);
  expect(Object.keys(list.entries[0]).sort()).toEqual(["bee_job_id", "error", "failed_at", "index", "queue"]);
  const human = await s.cli(["dlq", "list"]);
  expect(human.stdout).toMatch(/^INDEX\s+FAILED_AT\s+QUEUE\s+JOB\s+ERROR$/m);
  expect(human.stdout).not.toMatch(ESC); // the escape code in an error never reaches the terminal
  const syncOnly = JSON.parse((await s.cli(["dlq", "list", "--queue", "sync", "--json"])).stdout);
  expect(syncOnly.entries.map((e: { bee_job_id: string }) => e.bee_job_id)).toEqual(["j3:flask", "j1:monty"]);
  expect((await s.cli(["dlq", "depth"])).stdout.trim()).toBe("3");
  expect((await s.cli(["dlq", "depth", "--queue", "merge"])).stdout.trim()).toBe("1");
  expect(JSON.parse((await s.cli(["dlq", "depth", "--json"])).stdout).by_queue).toMatchObject({ sync: 2, merge: 1 });

  expect((await s.cli(["dlq", "replay"])).code).toBe(2);
  expect((await s.cli(["dlq", "replay", "9"])).code).toBe(3);
  expect((await s.cli(["dlq", "replay", "1", "--queue", "sync"])).code).toBe(3); // index 1 is the merge entry
  // The worker is running: keep the replayed jobs from being consumed while counting them.
  await s.stopWorker();
  try {
    const one = await s.cli(["dlq", "replay", "1", "--json"]);
    expect(JSON.parse(one.stdout)).toEqual({ replayed: 1, of: 1 });
    expect(await redis.llen(queueKey("fs", "merge", "waiting"))).toBe(1);
    const all = await s.cli(["dlq", "replay", "--all", "--queue", "sync"]);
    expect(all.stdout).toBe("replayed 2 of 2\n");
    expect(await redis.llen(queueKey("fs", "sync", "waiting"))).toBe(2);
    expect(await jobs.dlqDepth()).toBe(0);
    expect((await s.cli(["dlq", "list"])).stdout).toContain("empty");
    await redis.del(queueKey("fs", "merge", "waiting"), queueKey("fs", "sync", "waiting"));
  } finally {
    redis.disconnect();
    await s.startWorker();
  }
}, 120_000);

test("gateway errors map to exit codes: unreachable 4, missing key 5, rate limited 6", async () => {
  expect((await s.cli(["bundle", "yungryce", "--url", "http://127.0.0.1:1"])).code).toBe(4);
  expect((await s.cli(["bundle", "yungryce", "--url", "ftp://x"])).code).toBe(2);
  const locked = await startGateway({
    env: { ...s.env, API_KEYS: "cli-test-key-0123456789:*", RATE_LIMIT_PER_MIN: "1", READ_ACCESS: "key" },
  });
  try {
    // The status page's model line is a read: behind the key like the bundle.
    expect((await fetch(`${locked.url}/page/model/yungryce`)).status).toBe(401);
    const model = await fetch(`${locked.url}/page/model/yungryce`, {
      headers: { authorization: "Bearer cli-test-key-0123456789" },
    });
    expect(await model.json()).toEqual({ username: "yungryce", model: null });
    expect((await s.cli(["bundle", "yungryce", "--url", locked.url])).code).toBe(5);
    const denied = await s.cli(["refresh", "yungryce", "--url", locked.url]);
    expect(denied.code).toBe(5);
    expect(denied.stderr).not.toContain("cli-test-key");
    const env = { FOLIOSYNC_URL: locked.url, FOLIOSYNC_API_KEY: "cli-test-key-0123456789" };
    expect((await s.cli(["refresh", "yungryce"], env)).code).toBe(0);
    const limited = await s.cli(["refresh", "sindresorhus"], env);
    expect(limited.code).toBe(6);
    expect(limited.stderr).toMatch(/retry in \d+ s/);
  } finally {
    await locked.stop();
  }
}, 120_000);

test(
  "keys create/list/revoke (run-time API keys): printed once, listed by id only, revoked once; exit codes 2, 3, 4",
  async () => {
    const created = await s.cli(["keys", "create", "yungryce", "--json"]);
    expect(created.code).toBe(0);
    const k = JSON.parse(created.stdout);
    expect(typeof k.key).toBe("string");
    const list = JSON.parse((await s.cli(["keys", "list", "--json"])).stdout);
    expect(JSON.stringify(list)).toContain(k.id);
    expect(JSON.stringify(list)).not.toContain(k.key);
    expect((await s.cli(["keys", "revoke", k.id])).code).toBe(0);
    expect((await s.cli(["keys", "revoke", k.id])).code).toBe(3);
    expect((await s.cli(["keys", "create"])).code).toBe(2);
    expect((await s.cli(["keys", "list"], { REDIS_URL: "redis://127.0.0.1:1" })).code).toBe(4);
  },
  120_000,
);
