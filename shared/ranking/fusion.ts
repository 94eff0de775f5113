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

/**
 * Weight of the learned encoder in the fusion. Chosen together with
 * DEFAULT_GAMMA and the sentence signal's SENTENCE_WEIGHT (ranker.ts) by
 * leave-one-set-out over all query sets with `npm run tune:fusion`
 * (BENCHMARKS.md has the runs). The encoder learns from the same generated
 * pairs BM25 reads, so it gets the smallest share but keeps a say; the
 * alignment and the sentence encoder bring knowledge from outside the
 * bundle, which paraphrased questions need. Models store the weights they
 * were trained with (meta.alpha, meta.gamma).
 */
export const DEFAULT_ALPHA = 0.1;
/** Weight of the word-vector alignment in the fusion (BM25 keeps 1 − alpha − gamma). */
export const DEFAULT_GAMMA = 0.4;

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

/** Standard scores (mean 0, unit deviation) over the candidates; a flat list is all 0. */
export function zNormalize(scores: ArrayLike<number>): Float64Array {
  const n = scores.length;
  const out = new Float64Array(n);
  if (!n) return out;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += scores[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (scores[i] - mean) ** 2;
  const sd = Math.sqrt(v / n);
  if (!(sd > 1e-12)) return out;
  for (let i = 0; i < n; i++) out[i] = (scores[i] - mean) / sd;
  return out;
}

/**
 * Three-way fusion: BM25, the learned encoder's cosines and the alignment
 * scores, each turned into standard scores over the bundle's repositories,
 * mixed with weights 1 − alpha − gamma, alpha, gamma, then rescaled to
 * [0, 1] (best 1, worst 0) for display.
 *
 * Why standard scores rather than scaling by the maximum: a list's maximum
 * says nothing about how much it separates one repository from the rest.
 * BM25 with one strong match (a rare word of the question in one README)
 * stands several deviations above the others and keeps its say; BM25
 * spreading small, similar scores over many long READMEs (a question phrased
 * as a need, sharing only common words with them) has little spread relative
 * to its deviation and lets the encoder and the alignment decide. The same
 * holds for each signal, with one set of weights for every query: the rule
 * is confidence per query, not tuned per query set.
 */
export function fuse3(
  bm25: ArrayLike<number>,
  model: ArrayLike<number> | null,
  align: ArrayLike<number> | null,
  alpha = DEFAULT_ALPHA,
  gamma = DEFAULT_GAMMA,
): Float64Array {
  const b = zNormalize(bm25);
  const a = model ? alpha : 0;
  const c = align ? gamma : 0;
  const m = model ? zNormalize(model) : null;
  const al = align ? zNormalize(align) : null;
  const out = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = (1 - a - c) * b[i] + (m ? a * m[i] : 0) + (al ? c * al[i] : 0);
  return minMaxNormalize(out);
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
