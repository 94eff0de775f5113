/**
 * The docs/RUNBOOK.md procedures that run on one machine, done the way the
 * runbook says (the `foliosync` bin against a running stack of real
 * processes): roll back a model, replay the dead-letter queue after a GitHub
 * outage, and recover from losing Redis.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { DEFAULT_MODEL_CONFIG, type RankingModel } from "../../shared/ranking/model.ts";
import { promoteModel, readModelPointer, saveModel } from "../../shared/ranking/model-store.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import { type OpsStack, startOpsStack } from "../support/ops-stack.ts";
import { startProcess, waitForOutput } from "../support/process.ts";
import { redisServerArgs } from "../support/redis.ts";

let s: OpsStack | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
}, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`);
}

/** A small valid model over the bundle's repos (random weights: what matters here is which one is current). */
function syntheticModel(username: string, repoNames: string[], seed: number, trainedAt: string): RankingModel {
  const dim = 8;
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const vocab = ["w:flask", "w:python", "w:api", "w:web"];
  const unit = (n: number) => {
    const v = new Float32Array(n * dim).map(rand);
    for (let i = 0; i < n; i++) {
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += v[i * dim + j] ** 2;
      for (let j = 0; j < dim; j++) v[i * dim + j] /= Math.sqrt(norm) || 1;
    }
    return v;
  };
  const fp = createHash("sha256").update(`synthetic-model-${seed}`).digest("hex");
  return {
    config: { ...DEFAULT_MODEL_CONFIG, dim, wordVectorWeight: 0 },
    meta: {
      username,
      content_fingerprint: fp,
      backend: "cpu",
      seed,
      trained_at: trainedAt,
      train_ms: 1,
      epochs: 1,
      pairs: 0,
      held_out: 0,
      alpha: 0.3,
    },
    vocab,
    index: new Map(vocab.map((f, i) => [f, i])),
    embeddings: unit(vocab.length),
    repoNames,
    repoVectors: unit(repoNames.length),
  };
}

async function aiModel(stack: OpsStack, user: string): Promise<string> {
  const r = await stack.cli(["ask", user, "flask web api", "--json"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout).model as string;
}

test("roll back a model: `foliosync model list` then `model rollback`; answers use the earlier model", async () => {
  s = await startOpsStack();
  const refreshed = await s.cli(["refresh", "yungryce", "--wait"]);
  expect(refreshed.code).toBe(0);
  const bundle = JSON.parse((await s.cli(["bundle", "yungryce", "--json"])).stdout);
  const names: string[] = bundle.data.map((r: { name: string }) => r.name);

  // Two trainings happened: v1, then v2 (promoted over v1), as the training worker leaves them.
  const store = await LocalStore.open(s.storageDir);
  const v1 = syntheticModel("yungryce", names, 1, "2026-12-01T10:00:00.000Z");
  const v2 = syntheticModel("yungryce", names, 2, "2026-12-02T10:00:00.000Z");
  for (const m of [v1, v2]) {
    const prefix = await saveModel(store, m);
    const cur = await readModelPointer(store, "yungryce");
    const ok = await promoteModel(store, {
      username: "yungryce",
      content_fingerprint: m.meta.content_fingerprint,
      prefix,
      backend: m.meta.backend,
      trained_at: m.meta.trained_at,
    }, cur?.version ?? null);
    expect(ok).toBe(true);
  }
  const fp1 = v1.meta.content_fingerprint;
  const fp2 = v2.meta.content_fingerprint;
  await until("answers from v2", async () => (await aiModel(s!, "yungryce")).includes(fp2.slice(0, 12)));

  const list = JSON.parse((await s.cli(["model", "list", "yungryce", "--json"])).stdout);
  expect(list.versions.map((v: { version: string; current: boolean }) => [v.version, v.current])).toEqual([
    [fp2, true],
    [fp1, false],
  ]);
  const human = await s.cli(["model", "list", "yungryce"]);
  expect(human.stdout).toMatch(new RegExp(`^\\*\\s+${fp2}\\s+2026-12-02T10:00:00.000Z\\s+cpu`, "m"));

  // The procedure: roll back to the version before the current one.
  const rb = await s.cli(["model", "rollback", "yungryce"]);
  expect(rb.code).toBe(0);
  expect(rb.stdout).toBe(`yungryce: model ${fp2} → ${fp1}\n`);
  // The gateway picks the pointer up on its next check (≤ 1 s): answers and the status page name v1.
  await until("answers from v1", async () => (await aiModel(s!, "yungryce")).includes(fp1.slice(0, 12)));
  const page = await (await fetch(`${s.gateway.url}/page/model/yungryce`)).json();
  expect(page.model).toMatchObject({ version: fp1, backend: "cpu", trained_at: "2026-12-01T10:00:00.000Z" });

  // Forward again by version; a rollback to the current one changes nothing; unknown versions exit 3.
  expect((await s.cli(["model", "rollback", "yungryce", fp2])).code).toBe(0);
  expect((await s.cli(["model", "rollback", "yungryce", fp2])).stdout).toContain("already current");
  expect((await s.cli(["model", "rollback", "yungryce", "ab".repeat(8)])).code).toBe(3);
  expect((await s.cli(["model", "rollback", "yungryce", "../x"])).code).toBe(2);
  expect((await s.cli(["model", "list", "sindresorhus"])).stdout).toContain("no model for sindresorhus");
  expect((await s.cli(["model", "rollback", "sindresorhus"])).code).toBe(3);
}, 180_000);

test("replay the DLQ after a GitHub outage: the syncs run again and the next refresh has every repo", async () => {
  s = await startOpsStack({ worker: false, env: { JOB_RETRIES: "0" } });
  // Plan runs while GitHub is up …
  await s.startWorker("plan");
  const accepted = JSON.parse((await s.cli(["refresh", "yungryce", "--json"])).stdout);
  await until("syncs enqueued", async () => {
    const r = await s!.cli(["status", "yungryce", accepted.job_id, "--json"]);
    return JSON.parse(r.stdout).state === "syncing";
  });
  // … then GitHub fails every request while the syncs run: each is dead-lettered.
  await s.github.config({ fail_rate: 1 });
  await s.startWorker("sync,merge,notify");
  await until("all 48 syncs dead-lettered", async () => {
    const d = JSON.parse((await s!.cli(["dlq", "depth", "--queue", "sync", "--json"])).stdout);
    return d.depth === 48;
  }, 120_000);
  const list = JSON.parse((await s.cli(["dlq", "list", "--queue", "sync", "--json", "--limit", "100"])).stdout);
  expect(list.entries.length).toBe(48);
  expect(list.entries[0].error).toMatch(/GitHub 502/);

  // The procedure: fix the cause (GitHub is back), replay, refresh.
  await s.github.config({ fail_rate: 0 });
  const replay = await s.cli(["dlq", "replay", "--all", "--queue", "sync"]);
  expect(replay.code).toBe(0);
  expect(replay.stdout).toBe("replayed 48 of 48\n");
  const reposDir = join(s.storageDir, "repos", "yungryce");
  await until(
    "48 repo records written by the replayed syncs",
    () =>
      Promise.resolve(
        existsSync(reposDir) && readdirSync(reposDir).filter((f) => f.endsWith(".json")).length === 48,
      ),
  );
  expect((await s.cli(["dlq", "depth"])).stdout.trim()).toBe("0");
  const again = await s.cli(["refresh", "yungryce", "--wait", "--json"]);
  expect(again.code).toBe(0);
  const bundle = JSON.parse((await s.cli(["bundle", "yungryce", "--json"])).stdout);
  expect(bundle.data.length).toBe(48);
}, 240_000);

test("lose Redis: bundles stay served, jobs and DLQ are gone, the next refresh rebuilds the rest", async () => {
  s = await startOpsStack();
  const first = JSON.parse((await s.cli(["refresh", "yungryce", "--wait", "--json"])).stdout);
  expect(first.state).toBe("completed");
  const before = JSON.parse((await s.cli(["bundle", "yungryce", "--json"])).stdout);

  // Redis dies and comes back empty on the same address (no AOF, or a new instance).
  const port = s.redis.port;
  const dir = s.redis.dir;
  const admin = s.redis.client();
  await admin.shutdown("NOSAVE").catch(() => {});
  admin.disconnect();
  await until("redis gone", async () => (await s!.cli(["dlq", "depth"])).code === 4);
  const fresh = startProcess("redis-server", redisServerArgs(port, dir));
  try {
    await waitForOutput(fresh, /Ready to accept connections/, 20_000);

    // Served from storage, the source of truth: bundle and answers.
    const b = await s.cli(["bundle", "yungryce", "--json"]);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).fingerprint).toBe(before.fingerprint);
    expect((await s.cli(["ask", "yungryce", "flask"])).code).toBe(0);
    // Lost with Redis: the job record (404 → exit 3) and the DLQ.
    expect((await s.cli(["status", "yungryce", first.job_id])).code).toBe(3);
    expect((await s.cli(["dlq", "depth"])).stdout.trim()).toBe("0");
    // Rebuilds itself: the worker re-announces itself, and a refresh works again. With the
    // per-repo fingerprints gone it re-syncs every repo, and the bundle comes out the same.
    await until("worker listed again", async () => {
      const w = JSON.parse((await s!.cli(["workers", "--json"])).stdout);
      return w.workers.some((x: { pid: number }) => x.pid === s!.worker!.child.pid);
    }, 30_000);
    const again = await s.cli(["refresh", "yungryce", "--wait", "--json"]);
    expect(again.code).toBe(0);
    const job = JSON.parse(again.stdout);
    expect(job.state).toBe("completed");
    expect(job.progress.total).toBe(48);
    expect(job.progress.completed).toBe(48);
    const after = JSON.parse((await s.cli(["bundle", "yungryce", "--json"])).stdout);
    expect(after.data.map((r: { name: string }) => r.name)).toEqual(before.data.map((r: { name: string }) => r.name));
  } finally {
    await fresh.stop(2000);
  }
}, 240_000);
