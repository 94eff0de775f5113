// Model artifacts round-trip through the TF.js IOHandler on every storage backend.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { RankingModel } from "../../shared/ranking/model.ts";
import { scoreRepos } from "../../shared/ranking/model.ts";
import { generatePairs } from "../../shared/ranking/pairs.ts";
import { AzureStore } from "../../shared/storage/azure/azure-store.ts";
import { GcsStore } from "../../shared/storage/gcs/gcs-store.ts";
import { LocalStore } from "../../shared/storage/local/local-store.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { fitModel } from "../../workers/train/fit.ts";
import { loadModel, saveModel, storageIOHandler } from "../../workers/train/model-io.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { startAzurite } from "../support/azurite.ts";
import { startGcsTestServer } from "../support/gcs-test-server.ts";
import { smallBundle, tinyWordVectors } from "./helpers.ts";

await selectBackend(tf, { forced: "wasm" });

async function trainedModel(): Promise<RankingModel> {
  const b = smallBundle(6);
  const names = b.repos.map((r) => r.name);
  const wv = tinyWordVectors(["azure", "function", "python", "flask", "clone", "airbnb", "console"]);
  const fit = await fitModel(tf, names, generatePairs(b.repos).train, { epochs: 2, wordVectors: wv });
  return {
    ...fit.model,
    meta: {
      username: "yungryce",
      content_fingerprint: b.content_fingerprint,
      backend: "wasm",
      seed: 42,
      trained_at: new Date().toISOString(),
      train_ms: 1,
      epochs: 2,
      pairs: 1,
      held_out: 0,
      alpha: 0.25,
      gamma: 0.25,
      align_hubness: Object.fromEntries(names.map((n, i) => [n, (i % 7) / 10 - 0.3])),
    },
  };
}

async function roundTrip(store: BlobStore, model: RankingModel) {
  const prefix = await saveModel(store, model);
  assert.equal(prefix, `models/yungryce/${model.meta.content_fingerprint}/`);
  const back = await loadModel(store, prefix);
  assert.deepEqual(back.vocab, model.vocab);
  assert.deepEqual(back.repoNames, model.repoNames);
  assert.deepEqual([...back.embeddings], [...model.embeddings]);
  assert.deepEqual([...back.repoVectors], [...model.repoVectors]);
  assert.deepEqual([...back.projection!], [...model.projection!]);
  assert.deepEqual([...back.wordVectors!.data], [...model.wordVectors!.data]);
  assert.deepEqual(back.wordVectors!.words, model.wordVectors!.words);
  assert.deepEqual(back.config, model.config);
  assert.equal(back.meta.backend, "wasm");
  assert.deepEqual(back.meta.align_hubness, model.meta.align_hubness);
  for (const q of ["azure function", "airbnb console clone", "nothing known"]) {
    assert.deepEqual([...scoreRepos(back, q, model.repoNames)], [...scoreRepos(model, q, model.repoNames)]);
  }
  // The handler is a tf.io.IOHandler: the same artifacts come back through load().
  const h = storageIOHandler(store, prefix);
  const art = await h.load!();
  assert.equal((art.modelTopology as { format: string }).format, "foliosync-dual-encoder");
  assert.ok((art.weightData as ArrayBuffer).byteLength > 0);
}

Deno.test("save/load round trip: local", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foliosync-modelio-"));
  try {
    await roundTrip(await LocalStore.open(dir), await trainedModel());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test({
  name: "save/load round trip: gcs (test server)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const gcs = await startGcsTestServer();
    try {
      gcs.createBucket("models");
      const store = await GcsStore.open({ bucket: "models", apiEndpoint: gcs.url, retry: { baseMs: 5, maxMs: 20 } });
      await roundTrip(store, await trainedModel());
      await store.close?.();
    } finally {
      await gcs.stop();
    }
  },
});

Deno.test({
  name: "save/load round trip: azure (azurite)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const az = await startAzurite();
    try {
      const store = await AzureStore.open({
        connectionString: az.connectionString,
        container: `models-${Date.now().toString(36)}`,
        retry: { baseMs: 5, maxMs: 20 },
      });
      await roundTrip(store, await trainedModel());
      await store.close?.();
    } finally {
      await az.dispose();
    }
  },
});
