/**
 * Pseudo-relevance feedback for the fused ranking's lexical part (the plain
 * BM25 baseline never uses it), RM3-style: the documents a first fused pass
 * is confident about vote for their distinctive terms, which are added to
 * the question with a bounded total weight, and BM25 runs again.
 *
 * Why it carries over to unseen questions: a question phrased as a need
 * ("throw away files so they can be recovered") shares few words with the
 * repository that answers it, but the first pass (where the learned encoder
 * and the word-vector alignment already bridge the vocabulary gap) usually
 * puts that repository, or its close siblings, near the top; their own
 * words ("trash", "recycle", "delete") then let BM25 find the rest of them.
 * Only documents scoring close to the best one vote, so a first pass with
 * no clear winner adds little, and the votes come from each repository's
 * short identity-bearing text (name, description, topics, context,
 * headings), not from long READMEs whose incidental words would drift.
 */
import type { Bm25Index } from "./bm25.ts";
import { rankIndices } from "./fusion.ts";

export interface FeedbackOptions {
  /** First-pass documents that vote. */
  docs: number;
  /** Terms added. */
  terms: number;
  /** Total weight of the added terms relative to the question's own. */
  weight: number;
  /** A document votes only if its first-pass score is at least this share of the best one. */
  minShare: number;
}

/**
 * Off by default (weight 0): it helps questions close to the repositories'
 * own words but not paraphrased ones, and on small bundles it pushes the
 * fused MRR on held-out training pairs under the first-model gate's floor.
 * It stays for evaluation (FusionConfig.feedback).
 */
export const DEFAULT_FEEDBACK: FeedbackOptions = { docs: 3, terms: 10, weight: 0, minShare: 0.75 };

/**
 * RM3-style feedback: p(t|top docs) · idf over the first pass's best
 * documents (tokenised `texts`, weighted by normalised first-pass score),
 * the best `terms` of them added with a total weight of `weight` × the
 * question's own total.
 */
export function feedbackQuery(
  query: Map<string, number>,
  first: ArrayLike<number>,
  docTerms: string[][],
  bm25: Bm25Index,
  opts: FeedbackOptions = DEFAULT_FEEDBACK,
): Map<string, number> {
  if (opts.weight <= 0 || opts.docs <= 0) return query;
  const top = rankIndices(first).slice(0, opts.docs);
  const floor = opts.minShare * first[top[0]];
  const idx = top.filter((i) => first[i] > 0 && first[i] >= floor);
  if (!idx.length) return query;
  const total = idx.reduce((s, i) => s + first[i], 0);
  const rel = new Map<string, number>();
  for (const d of idx) {
    const ts = docTerms[d];
    if (!ts.length) continue;
    const tf = new Map<string, number>();
    for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1);
    const w = first[d] / total;
    for (const [t, c] of tf) rel.set(t, (rel.get(t) ?? 0) + (w * c) / ts.length);
  }
  const maxIdf = Math.log(1 + bm25.n);
  const cand = [...rel].map(([t, p]) => [t, p * (bm25.idf(t) / maxIdf) ** 2] as [string, number])
    .filter(([t]) => !query.has(t))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, opts.terms);
  const mass = cand.reduce((s, [, v]) => s + v, 0);
  if (!(mass > 0)) return query;
  let qTotal = 0;
  for (const v of query.values()) qTotal += v;
  const out = new Map(query);
  for (const [t, v] of cand) out.set(t, (out.get(t) ?? 0) + (opts.weight * qTotal * v) / mass);
  return out;
}
