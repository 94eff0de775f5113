/**
 * Fusion of BM25 and model scores. BM25 scores are unbounded and
 * query-dependent, model scores are cosines: each list is normalised over
 * the candidates (BM25 by its maximum, the model by a softmax-free min-max
 * over its top), then mixed linearly. A document BM25 gives nothing to is
 * still reachable through the model, which is what paraphrased questions need.
 */
export interface FusionOptions {
  /** Weight of the model (0 = BM25 only, 1 = model only). */
  alpha?: number;
}

/** Weight of the learned encoder in the fusion. */
export const DEFAULT_ALPHA = 0.25;
/** Weight of the word-vector alignment in the fusion (BM25 keeps 1 − alpha − gamma). */
export const DEFAULT_GAMMA = 0.25;

/** Scales to [0, 1] by the maximum (BM25: 0 stays 0). */
export function maxNormalize(scores: ArrayLike<number>): Float64Array {
  let max = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  const out = new Float64Array(scores.length);
  if (max <= 0) return out;
  for (let i = 0; i < scores.length; i++) out[i] = Math.max(0, scores[i]) / max;
  return out;
}

/** Min-max to [0, 1] (cosine scores). */
export function minMaxNormalize(scores: ArrayLike<number>): Float64Array {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] < min) min = scores[i];
    if (scores[i] > max) max = scores[i];
  }
  const out = new Float64Array(scores.length);
  const span = max - min;
  if (!(span > 1e-12)) return out;
  for (let i = 0; i < scores.length; i++) out[i] = (scores[i] - min) / span;
  return out;
}

export function fuseScores(
  bm25: ArrayLike<number>,
  model: ArrayLike<number> | null,
  opts: FusionOptions = {},
): Float64Array {
  const b = maxNormalize(bm25);
  if (!model) return b;
  const alpha = opts.alpha ?? DEFAULT_ALPHA;
  const m = minMaxNormalize(model);
  const out = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = (1 - alpha) * b[i] + alpha * m[i];
  return out;
}

/**
 * Three-way fusion: BM25 (max-normalised), the learned encoder's cosines
 * (min-max) and the alignment scores (max-normalised; 0 stays 0).
 */
export function fuse3(
  bm25: ArrayLike<number>,
  model: ArrayLike<number> | null,
  align: ArrayLike<number> | null,
  alpha = DEFAULT_ALPHA,
  gamma = DEFAULT_GAMMA,
): Float64Array {
  const b = maxNormalize(bm25);
  const a = model ? alpha : 0;
  const c = align ? gamma : 0;
  const m = model ? minMaxNormalize(model) : null;
  const al = align ? maxNormalize(align) : null;
  const out = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = (1 - a - c) * b[i] + (m ? a * m[i] : 0) + (al ? c * al[i] : 0);
  return out;
}

/** Indices sorted by score, best first; ties by index (stable, deterministic). */
export function rankIndices(scores: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx;
}

/** Reciprocal-rank fusion, for comparison. */
export function rrf(lists: number[][], n: number, k = 60): Float64Array {
  const out = new Float64Array(n);
  for (const l of lists) l.forEach((d, r) => (out[d] += 1 / (k + r + 1)));
  return out;
}
