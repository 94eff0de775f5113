/**
 * Ranking metrics. `ranked` is a list of item ids best first; `relevant` is
 * the judged list, most relevant first. Gains are graded by judged position:
 * the first relevant item has gain 1 and later ones decay gently, so putting
 * the most relevant repository first matters a little more; with `binary`
 * every relevant item has gain 1.
 */
export interface MetricOptions {
  binary?: boolean;
}

function gains(relevant: string[], binary: boolean): Map<string, number> {
  const g = new Map<string, number>();
  relevant.forEach((r, i) => {
    if (!g.has(r)) g.set(r, binary ? 1 : 1 / (1 + 0.1 * i));
  });
  return g;
}

export function ndcgAt(ranked: string[], relevant: string[], k = 5, opts: MetricOptions = {}): number {
  if (!relevant.length) return 0;
  const g = gains(relevant, opts.binary ?? true);
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    const gain = g.get(ranked[i]) ?? 0;
    if (gain) dcg += gain / Math.log2(i + 2);
  }
  const ideal = [...g.values()].sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i] / Math.log2(i + 2);
  return idcg ? dcg / idcg : 0;
}

/** Reciprocal rank of the first relevant item (0 if none is ranked). */
export function reciprocalRank(ranked: string[], relevant: string[]): number {
  const rel = new Set(relevant);
  for (let i = 0; i < ranked.length; i++) if (rel.has(ranked[i])) return 1 / (i + 1);
  return 0;
}

/** Share of the relevant items found in the top k (denominator min(k, |relevant|)). */
export function recallAt(ranked: string[], relevant: string[], k = 5): number {
  if (!relevant.length) return 0;
  const rel = new Set(relevant);
  let hit = 0;
  for (const r of ranked.slice(0, k)) if (rel.has(r)) hit++;
  return hit / Math.min(k, rel.size);
}

export interface MetricSummary {
  "ndcg@5": number;
  mrr: number;
  "recall@5": number;
}

export function summarize(runs: Array<{ ranked: string[]; relevant: string[] }>): MetricSummary {
  let n = 0, m = 0, r = 0;
  for (const x of runs) {
    n += ndcgAt(x.ranked, x.relevant, 5);
    m += reciprocalRank(x.ranked, x.relevant);
    r += recallAt(x.ranked, x.relevant, 5);
  }
  const c = Math.max(1, runs.length);
  const round = (v: number) => Math.round((v / c) * 10000) / 10000;
  return { "ndcg@5": round(n), mrr: round(m), "recall@5": round(r) };
}
