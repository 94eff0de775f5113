// The train queue consumer: job states, single flight / supersede, failures, and bee-queue under Deno.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import BeeQueue from "bee-queue";
import { publishBundle } from "../../shared/bundle-store.ts";
import { redisKeys } from "../../shared/keys.ts";
import { readModelPointer } from "../../shared/ranking/model-store.ts";
import type { TrainMessage } from "../../shared/schemas/job.ts";
import { handleTrainMessage, type Publish, trainLockKey } from "../../workers/train/handler.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { startRedis } from "../support/redis.ts";
import { editedBundle, FAST_FIT, smallBundle, withPublishedBundle } from "./helpers.ts";
import { JobStore } from "../../shared/jobs/job-store.ts";

await selectBackend(tf, { forced: "wasm" });

function recorder() {
  const states: Array<{ state: string; message?: string; error?: string; error_code?: string }> = [];
  const publish: Publish = (_m, state, patch) => {
    states.push({ state, ...patch });
    return Promise.resolve();
  };
  return { states, publish };
}

Deno.test({
  name: "train handler: trained, superseded, failed — and the bundle and old model survive a failure",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedis();
    const bundle = smallBundle(10);
    try {
      await withPublishedBundle(bundle, async ({ store, pointer }) => {
        const r = redis.client();
        const keys = redisKeys("fs");
        const msg: TrainMessage = {
          job_id: "job-1",
          username: "yungryce",
          content_fingerprint: bundle.content_fingerprint,
          bundle_key: pointer.key,
        };
        await r.set(keys.trainPending("yungryce"), JSON.stringify(msg));
        const rec = recorder();
        const deps = {
          redis: r,
          store,
          prefix: "fs",
          publish: rec.publish,
          backend: "wasm",
          trainOverrides: { fit: FAST_FIT, wordVectors: null },
        };

        const ok = await handleTrainMessage(deps, msg);
        assert.equal(ok.state, "trained", ok.detail);
        assert.deepEqual(rec.states.map((s) => s.state), ["training", "trained"]);
        assert.equal(await r.get(keys.trainPending("yungryce")), null, "pending marker cleared");
        assert.equal(await r.get(trainLockKey("fs", "yungryce")), null, "lock released");
        const model1 = await readModelPointer(store, "yungryce");

        // A newer bundle was published: the queued training of the old one is superseded.
        const next = editedBundle(bundle, "## Monitoring\nDashboards and alerts.");
        const p2 = await publishBundle(store, next);
        const newer: TrainMessage = {
          ...msg,
          job_id: "job-2",
          content_fingerprint: next.content_fingerprint,
          bundle_key: p2.pointer.key,
        };
        await r.set(keys.trainPending("yungryce"), JSON.stringify(newer));
        const rec2 = recorder();
        const stale = await handleTrainMessage({ ...deps, publish: rec2.publish }, { ...msg, job_id: "job-old" });
        assert.equal(stale.state, "training_skipped");
        assert.match(stale.detail, /superseded/);
        assert.deepEqual(rec2.states.map((s) => s.state), ["training_skipped"]);

        // The newer one fails (e.g. out of memory): training_failed, nothing else changes.
        const rec3 = recorder();
        const jobStore = new JobStore(r, { prefix: "fs" });
        const failed = await handleTrainMessage(
          {
            ...deps,
            publish: rec3.publish,
            deadLetter: (entry) => jobStore.deadLetter(entry),
            trainOverrides: {
              ...deps.trainOverrides,
              transformModel: () => {
                throw new Error("GPU lost");
              },
            },
          },
          newer,
        );
        assert.equal(failed.state, "training_failed", failed.detail);
        assert.deepEqual(rec3.states.map((s) => s.state), ["training", "training_failed"]);
        assert.match(rec3.states[1].error ?? "", /GPU lost/);
        assert.equal(rec3.states[1].error_code, "training_failed");
        const dlq = await jobStore.dlqList();
        assert.equal(dlq.length, 1, "the failure's cause is in the dead-letter queue");
        assert.equal(dlq[0].queue, "train");
        assert.match(dlq[0].error, /GPU lost/);
        assert.equal((await readModelPointer(store, "yungryce"))!.version, model1!.version);
        assert.ok(await store.get(p2.pointer.key), "the bundle is still there");
        assert.equal(await r.get(trainLockKey("fs", "yungryce")), null, "lock released after a failure");

        // Another worker holds the user's lock: this one waits, then gives up (single flight).
        await r.set(trainLockKey("fs", "yungryce"), "someone-else", "PX", 60_000);
        await r.set(keys.trainPending("yungryce"), JSON.stringify(newer));
        const busy = await handleTrainMessage({ ...deps, lockWaitMs: 300 }, newer);
        assert.equal(busy.state, "training_skipped");
        assert.match(busy.detail, /still running/);
      });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "bee-queue 2.0 consumes the train queue under Deno",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const redis = await startRedis();
    try {
      const opts = { prefix: "fs", redis: { url: redis.url }, getEvents: false, sendEvents: false, storeJobs: false };
      const worker = new BeeQueue(
        "train",
        { ...opts, isWorker: true, removeOnSuccess: true } as BeeQueue.QueueSettings,
      );
      const producer = new BeeQueue("train", { ...opts, isWorker: false } as BeeQueue.QueueSettings);
      const got = new Promise<unknown>((resolve) =>
        worker.process(1, (job: { data: unknown }) => {
          resolve(job.data);
          return Promise.resolve();
        })
      );
      const data = {
        job_id: "j",
        username: "yungryce",
        content_fingerprint: "abcdef0123",
        bundle_key: "bundles/yungryce/x.json",
      };
      await producer.createJob(data).setId("yungryce:abcdef0123").save();
      const seen = await Promise.race([got, new Promise((r) => setTimeout(() => r("timeout"), 10_000))]);
      assert.deepEqual(seen, data);
      await worker.close(2000);
      await producer.close(2000);
    } finally {
      await redis.stop();
    }
  },
});
