// The Deno training worker process end to end: a `train` job enqueued as the merge worker does
// (bee-queue storage) is consumed, the job goes `training` → `trained`, the model is promoted.
import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { readModelPointer } from "../../shared/ranking/model-store.ts";
import { denoBin, githubFixturesDir, repoRoot } from "../support/paths.ts";
import { startProcess, waitForOutput } from "../support/process.ts";
import { startRedis } from "../support/redis.ts";
import { withPublishedBundle } from "./helpers.ts";

test("train worker (deno) consumes the queue, records states and promotes the model", async () => {
  const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));
  // The worker process reads the store's directory; it is stopped before the directory goes.
  await withPublishedBundle(bundle, async ({ store, pointer, dir }) => {
    const redis = await startRedis();
    const worker = startProcess(denoBin, ["run", "-A", "workers/train/main.ts"], {
      cwd: repoRoot,
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        STORAGE_BACKEND: "local",
        STORAGE_DIR: dir,
        TFJS_BACKEND: "",
        QUEUE_PREFIX: "fs",
        FOLIOSYNC_WORD_VECTORS: "off",
        XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir(),
      },
    });
    try {
      await waitForOutput(worker, /train worker ready \(backend (wasm|webgpu|cpu)\)/, 60_000);
      const jobs = new JobStore(redis.client(), { prefix: "fs" });
      const { job } = await jobs.requestRefresh({ username: "yungryce" });
      await jobs.setState(job.job_id, "yungryce", "completed", { message: "bundle published" });
      const msg = {
        job_id: job.job_id,
        username: "yungryce",
        content_fingerprint: bundle.content_fingerprint,
        bundle_key: pointer.key,
      };
      await redis.client().set(jobs.keys.trainPending("yungryce"), JSON.stringify(msg));
      await jobs.enqueue("train", `yungryce:${bundle.content_fingerprint}`, msg);
      let state = "";
      let message = "";
      for (let i = 0; i < 240 && !["trained", "training_skipped", "training_failed"].includes(state); i++) {
        await new Promise((r) => setTimeout(r, 250));
        const j = await jobs.get(job.job_id);
        state = j?.state ?? "";
        message = `${j?.message ?? ""} ${j?.error ?? ""}`;
      }
      expect(`${state}: ${message}`).toStartWith("trained:");
      const p = await readModelPointer(store, "yungryce");
      expect(p?.pointer.content_fingerprint).toBe(bundle.content_fingerprint);
      expect(worker.output()).toMatch(/training backend: (wasm|webgpu|cpu)/);
    } finally {
      await worker.stop();
      await redis.stop();
    }
  });
}, 120_000);
