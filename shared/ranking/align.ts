/**
 * Word-alignment scores over pretrained word vectors: for each word of the
 * question, its best cosine match among a repository's salient words (name,
 * description, topics, `.repo-context.json`, README headings), counted above
 * a threshold and weighted by the question word's rarity. This is what lets
 * "throw away files" reach a repository that says "trash", and it needs no
 * training: it reads the bundle and the word vectors the model carries.
 */
import { markdownSections, type RankableRepo, repoFields } from "./text-fields.ts";
import { isStopWord, words } from "./tokenizer.ts";
import type { WordVectors } from "./word-vectors.ts";

export const ALIGN_THRESHOLD = 0.45;

export interface AlignIndex {
  wv: WordVectors;
  /** Word-vector row of each distinct salient word. */
  vocabRows: Int32Array;
  /** Per repo: positions in vocabRows of its salient words. */
  repoWords: Int32Array[];
  /** Per salient word: how distinctive it is in this bundle (idf / max idf, 0..1]. */
  specificity: Float32Array;
}

export interface AlignOptions {
  threshold?: number;
  /** Weight a match by the matched word's distinctiveness in the bundle (0: off, 1: full). */
  specificityWeight?: number;
}

/** A repository's salient text: the short, identity-bearing fields. */
export function salientText(r: RankableRepo): string {
  const f = repoFields(r);
  const headings = markdownSections(r.readme).map((s) => s.heading).join(". ");
  let text = [f.nameText, f.description, f.topics.join(" "), f.contextParts.join(" "), headings].join(". ");
  // Repositories with almost no metadata: fall back to the start of the README.
  if (words(text).length < 12) text += " " + f.readme.split(/\s+/).slice(0, 200).join(" ");
  return text;
}

export function buildAlignIndex(wv: WordVectors, texts: string[]): AlignIndex {
  const pos = new Map<number, number>();
  const rows: number[] = [];
  const repoWords = texts.map((t) => {
    const mine = new Set<number>();
    for (const w of words(t)) {
      if (w.length < 2 || isStopWord(w)) continue;
      const row = wv.index.get(w);
      if (row === undefined) continue;
      let p = pos.get(row);
      if (p === undefined) {
        p = rows.length;
        pos.set(row, p);
        rows.push(row);
      }
      mine.add(p);
    }
    return Int32Array.from(mine);
  });
  const df = new Float32Array(rows.length);
  for (const ws of repoWords) for (const p of ws) df[p]++;
  const n = Math.max(1, texts.length);
  const maxIdf = Math.log(1 + n);
  const specificity = Float32Array.from(df, (d) => Math.log(1 + n / Math.max(1, d)) / maxIdf);
  return { wv, vocabRows: Int32Array.from(rows), repoWords, specificity };
}

export const ALIGN_SPECIFICITY = 0;

export function alignScores(ai: AlignIndex, query: string, opts: AlignOptions = {}): Float64Array {
  const threshold = opts.threshold ?? ALIGN_THRESHOLD;
  const spec = opts.specificityWeight ?? ALIGN_SPECIFICITY;
  const { wv } = ai;
  const D = wv.dim;
  const out = new Float64Array(ai.repoWords.length);
  const sims = new Float32Array(ai.vocabRows.length);
  let total = 0;
  const seen = new Set<number>();
  for (const w of words(query)) {
    if (w.length < 2 || isStopWord(w)) continue;
    const qi = wv.index.get(w);
    if (qi === undefined || seen.has(qi)) continue;
    seen.add(qi);
    const qb = qi * D;
    for (let k = 0; k < ai.vocabRows.length; k++) {
      const b = ai.vocabRows[k] * D;
      let s = 0;
      for (let j = 0; j < D; j++) s += wv.data[qb + j] * wv.data[b + j];
      sims[k] = s / (127 * 127);
    }
    const wt = wv.weights[qi];
    total += wt;
    for (let r = 0; r < ai.repoWords.length; r++) {
      let best = 0;
      const ws = ai.repoWords[r];
      for (let k = 0; k < ws.length; k++) {
        const p = ws[k];
        const sv = spec > 0 && sims[p] > threshold
          ? threshold + (sims[p] - threshold) * (1 - spec + spec * ai.specificity[p])
          : sims[p];
        if (sv > best) best = sv;
      }
      if (best > threshold) out[r] += (wt * (best - threshold)) / (1 - threshold);
    }
  }
  if (total > 0) { for (let r = 0; r < out.length; r++) out[r] /= total; }
  return out;
}
