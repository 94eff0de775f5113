import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { publishBundle } from "../../shared/bundle-store.ts";
import { createAiService } from "../../shared/ranking/ai-service.ts";
import { generatePairs } from "../../shared/ranking/pairs.ts";
import { readModelPointer } from "../../shared/ranking/model-store.ts";
import { fitModel } from "../../workers/train/fit.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { buildUserModel, trainUserModel, WORD_VECTOR_TOP_K } from "../../workers/train/train.ts";
import { editedBundle, FAST_FIT, smallBundle, tinyWordVectors, withPublishedBundle } from "./helpers.ts";

await selectBackend(tf, { forced: "wasm" });

Deno.test("training is deterministic for a seed (wasm)", async () => {
  const b = smallBundle(6);
  const pairs = generatePairs(b.repos).train;
  const names = b.repos.map((r) => r.name);
  const wv = tinyWordVectors(["azure", "function", "python", "flask", "clone", "airbnb"]);
  const a = await fitModel(tf, names, pairs, { seed: 9, epochs: 2, wordVectors: wv });
  const c = await fitModel(tf, names, pairs, { seed: 9, epochs: 2, wordVectors: wv });
  const d = await fitModel(tf, names, pairs, { seed: 10, epochs: 2, wordVectors: wv });
  assert.deepEqual(a.model.vocab, c.model.vocab);
  assert.deepEqual([...a.model.embeddings], [...c.model.embeddings]);
  assert.deepEqual([...a.model.repoVectors], [...c.model.repoVectors]);
  assert.deepEqual([...a.model.projection!], [...c.model.projection!]);
  assert.notDeepEqual([...a.model.repoVectors], [...d.model.repoVectors]);
  assert.ok(Number.isFinite(a.finalLoss));
});

Deno.test("training learns: the loss falls with more epochs", async () => {
  const b = smallBundle(12);
  const pairs = generatePairs(b.repos).train;
  const short = await fitModel(tf, b.repos.map((r) => r.name), pairs, { epochs: 1 });
  const long = await fitModel(tf, b.repos.map((r) => r.name), pairs, { epochs: 6 });
  assert.ok(long.finalLoss < short.finalLoss, `${long.finalLoss} < ${short.finalLoss}`);
});

Deno.test("first model promoted, same content skipped, worse model gated, failure keeps the old model", async () => {
  const bundle = smallBundle(12);
  await withPublishedBundle(bundle, async ({ store }) => {
    const common = { store, backend: "wasm", fit: FAST_FIT, wordVectors: null } as const;

    const first = await trainUserModel({ ...common, bundle });
    assert.equal(first.status, "trained", first.status === "training_skipped" ? first.reason : "");
    const p1 = await readModelPointer(store, "yungryce");
    assert.ok(p1);
    assert.equal(p1.pointer.content_fingerprint, bundle.content_fingerprint);
    assert.equal(p1.pointer.backend, "wasm");
    assert.deepEqual(await store.list(p1.pointer.prefix), [
      `${p1.pointer.prefix}model.json`,
      `${p1.pointer.prefix}weights.bin`,
    ]);

    const ai = createAiService({ store, revalidateMs: 0 });
    const served = await ai.answer({ query: "AirBnB clone console", username: "yungryce" });
    assert.match(served!.model, new RegExp(bundle.content_fingerprint.slice(0, 12)));
    assert.match(served!.model, /wasm/);

    const again = await trainUserModel({ ...common, bundle });
    assert.equal(again.status, "training_skipped");

    // A deliberately worse model (repository vectors shuffled) is not promoted.
    const next = editedBundle(bundle, "## Extra\nMore words about deployment pipelines.");
    await publishBundle(store, next);
    const worse = await trainUserModel({
      ...common,
      bundle: next,
      transformModel: (m) => {
        const d = m.config.dim;
        const rv = new Float32Array(m.repoVectors.length);
        const n = m.repoNames.length;
        for (let i = 0; i < n; i++) rv.set(m.repoVectors.subarray(((i + 1) % n) * d, ((i + 1) % n) * d + d), i * d);
        return { ...m, repoVectors: rv };
      },
    });
    assert.equal(worse.status, "training_skipped");
    if (worse.status === "training_skipped") assert.match(worse.reason, /worse than the current model/);
    const p2 = await readModelPointer(store, "yungryce");
    assert.equal(p2!.version, p1.version, "the current model pointer is untouched");
    assert.deepEqual(
      await store.list(`models/yungryce/${next.content_fingerprint}/`),
      [],
      "no artifacts for a rejected model",
    );

    // A training failure leaves the bundle and the previous model serving.
    await assert.rejects(
      trainUserModel({
        ...common,
        bundle: next,
        transformModel: () => {
          throw new Error("boom: out of memory");
        },
      }),
      /boom/,
    );
    assert.equal((await readModelPointer(store, "yungryce"))!.version, p1.version);
    const still = await ai.answer({ query: "AirBnB clone console", username: "yungryce" });
    assert.match(still!.model, new RegExp(bundle.content_fingerprint.slice(0, 12)));
    assert.equal(still!.total_repositories, 12);

    // The good retrain of the new content is promoted over the old one (equal or better).
    const good = await trainUserModel({ ...common, bundle: next });
    assert.equal(good.status, "trained", good.status === "training_skipped" ? good.reason : "");
    assert.equal((await readModelPointer(store, "yungryce"))!.pointer.content_fingerprint, next.content_fingerprint);
  });
});

Deno.test("the model keeps the word vectors of the glossaries' words, however rare, not of other rare words", async () => {
  const b = smallBundle(6);
  const hashing = { ...b.repos[0], metadata: { ...b.repos[0].metadata!, description: "Hash a string" } };
  const repos = [hashing, ...b.repos.slice(1)];
  const bundle = { ...b, repos };
  // WORD_VECTOR_TOP_K frequent filler words, then rarer ones: the concept gloss of "hash" says "digest".
  const fillers = Array.from({ length: WORD_VECTOR_TOP_K }, (_, i) => `filler${i}`);
  const table = tinyWordVectors([...fillers, "digest", "checksum", "gardening"], 4);
  const { model } = await buildUserModel(bundle, {
    backend: "wasm",
    fit: FAST_FIT,
    wordVectors: table,
    sentenceEncoder: null,
  });
  const kept = new Set(model.wordVectors!.words);
  assert.ok(kept.has("digest") && kept.has("checksum"), "the gloss words of 'hash' are kept");
  assert.ok(!kept.has("gardening"), "a rare word neither the bundle nor a gloss uses is not");
  assert.ok(kept.has("filler0"));
});
