/**
 * A training worker SIGKILLed mid-training: periodic stall detection hands
 * the job to the next worker, which takes over the dead one's training lock
 * (same queue job) and finishes; the job does not stay `training`.
 */
import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobStore } from "../../shared/jobs/job-store.ts";
import { loadFixtureBundle } from "../../shared/ranking/fixture-bundle.ts";
import { readModelPointer } from "../../shared/ranking/model-store.ts";
import { denoBin, githubFixturesDir, repoRoot } from "../support/paths.ts";
import { type Managed, startProcess, waitForOutput } from "../support/process.ts";
import { startRedis } from "../support/redis.ts";
import { withPublishedBundle } from "../train/helpers.ts";
import { FULL, sleep } from "./support.ts";

// Two Deno training workers start one after the other (≈ 40–60 s on 2 shared cores): full suite only.
test.skipIf(!FULL)("training worker SIGKILLed mid-training: the job is redelivered and ends trained", async () => {
  const bundle = loadFixtureBundle(join(githubFixturesDir, "yungryce"));
  await withPublishedBundle(bundle, async ({ store, pointer, dir }) => {
    const redis = await startRedis();
    const env = {
      ...process.env,
      REDIS_URL: redis.url,
      STORAGE_BACKEND: "local",
      STORAGE_DIR: dir,
      TFJS_BACKEND: "",
      QUEUE_PREFIX: "fs",
      FOLIOSYNC_WORD_VECTORS: "off",
      WORKER_METRICS_PORT: "0",
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir(),
    };
    const start = async () => {
      const w = startProcess(denoBin, ["run", "-A", "workers/train/main.ts"], { cwd: repoRoot, env });
      await waitForOutput(w, /train worker ready/, 90_000);
      return w;
    };
    let worker: Managed | undefined;
    try {
      worker = await start();
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
      for (let i = 0; (await jobs.get(job.job_id))?.state !== "training"; i++) {
        if (i > 600) throw new Error(`never training: ${worker.output().slice(-1500)}`);
        await sleep(100);
      }
      worker.kill("SIGKILL");
      await worker.exited;
      worker = await start();
      let state = "";
      for (let i = 0; i < 720 && !["trained", "training_skipped", "training_failed"].includes(state); i++) {
        await sleep(250);
        state = (await jobs.get(job.job_id))?.state ?? "";
      }
      const final = await jobs.get(job.job_id);
      expect(`${final?.state}: ${final?.message ?? ""} ${final?.error ?? ""}`).toStartWith("trained:");
      expect((await readModelPointer(store, "yungryce"))?.pointer.content_fingerprint).toBe(bundle.content_fingerprint);
      expect(await jobs.dlqDepth()).toBe(0);
    } finally {
      await worker?.stop();
      await redis.stop();
    }
  });
}, 300_000);
