/**
 * Word-alignment scores over pretrained word vectors: for each word of the
 * question, its best cosine match among a repository's salient words (name,
 * description, topics, `.repo-context.json`, README headings), counted above
 * a threshold and weighted by the question word's rarity. This is what lets
 * "throw away files" reach a repository that says "trash", and it needs no
 * training: it reads the bundle and the word vectors the model carries.
 */
import { markdownSections, type RankableRepo, repoFields } from "./text-fields.ts";
import { glossParts } from "./tech-glossary.ts";
import { isContentWord, words } from "./tokenizer.ts";
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
  /** Mean number of distinct salient words per repo. */
  meanWords: number;
}

export interface AlignOptions {
  threshold?: number;
  /** Weight a match by the matched word's distinctiveness in the bundle (0: off, 1: full). */
  specificityWeight?: number;
  /** Strongest length normalisation, reached on long questions (default ALIGN_LENGTH_NORM; 0: off). */
  lengthNorm?: number;
}

/**
 * A repository's salient text: the short, identity-bearing fields, then the
 * glossary's plain words for the technology it names or is written in (see
 * tech-glossary.ts), which the word vectors can match where they do not know
 * the technology's name.
 */
export function salientText(r: RankableRepo): string {
  return salientParts(r).text;
}

/**
 * The salient text and, apart, the gloss it ends with ("" when none) and the
 * part of that gloss that comes from the concept glossary.
 */
export function salientParts(r: RankableRepo): { text: string; gloss: string; concepts: string } {
  const base = salientBase(r);
  const { gloss, concepts } = glossParts(base, r.languages, r.metadata?.language);
  return { text: gloss ? base + ". " + gloss : base, gloss, concepts };
}

/** The salient fields alone, without the gloss. */
export function salientBase(r: RankableRepo): string {
  const f = repoFields(r);
  const headings = markdownSections(r.readme).map((s) => s.heading).join(". ");
  const text = [f.nameText, f.description, f.topics.join(" "), f.contextParts.join(" "), headings].join(". ");
  // Repositories with almost no metadata: fall back to the start of the README.
  if (words(text).length < 12) return text + " " + f.readme.split(/\s+/).slice(0, 200).join(" ");
  return text;
}

export function buildAlignIndex(wv: WordVectors, texts: string[]): AlignIndex {
  const pos = new Map<number, number>();
  const rows: number[] = [];
  const repoWords = texts.map((t) => {
    const mine = new Set<number>();
    for (const w of words(t)) {
      if (!isContentWord(w)) continue;
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
  const meanWords = repoWords.reduce((a, ws) => a + ws.length, 0) / n;
  return { wv, vocabRows: Int32Array.from(rows), repoWords, specificity, meanWords };
}

export const ALIGN_SPECIFICITY = 0;

/**
 * Length normalisation of the alignment for long questions. A repository
 * with many salient words has a close match for almost any question word, so
 * on a long question phrased as a need ("put my backend and frontend in
 * containers and move the database over") the alignment favours the richest
 * repositories whatever is asked, and a course repository whose only text is
 * its name never surfaces. Each score is divided by 1 − b + b·(salient words /
 * mean salient words), as BM25 does for term counts, with b ramping from 0 at
 * LONG_QUERY_FROM content words to ALIGN_LENGTH_NORM at LONG_QUERY_FROM +
 * LONG_QUERY_SPAN: a short keyword question ("Azure Functions projects"),
 * whose matches are meant to be the rich repositories, is left as it is.
 */
export const ALIGN_LENGTH_NORM = 0.6;
export const LONG_QUERY_FROM = 3;
export const LONG_QUERY_SPAN = 3;

/** A question's content words (what the length ramp counts): words of 2+ letters that are not stop words. */
export function contentWordCount(query: string): number {
  let n = 0;
  // Words as typed: a camel-case word counts as its parts, not again whole (see words()).
  for (const w of words(query, false)) if (isContentWord(w)) n++;
  return n;
}

/** The length-normalisation strength for a question with `contentWords` content words. */
export function lengthNormFor(contentWords: number, max = ALIGN_LENGTH_NORM): number {
  return max * Math.min(1, Math.max(0, (contentWords - LONG_QUERY_FROM) / LONG_QUERY_SPAN));
}

export function alignScores(ai: AlignIndex, query: string, opts: AlignOptions = {}): Float64Array {
  const threshold = opts.threshold ?? ALIGN_THRESHOLD;
  const spec = opts.specificityWeight ?? ALIGN_SPECIFICITY;
  const { wv } = ai;
  const D = wv.dim;
  const out = new Float64Array(ai.repoWords.length);
  const sims = new Float32Array(ai.vocabRows.length);
  let total = 0;
  const seen = new Set<number>();
  let contentWords = 0;
  for (const w of words(query)) {
    if (!isContentWord(w)) continue;
    contentWords++;
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
  const b = lengthNormFor(contentWords, opts.lengthNorm ?? ALIGN_LENGTH_NORM);
  if (b > 0 && ai.meanWords > 0) {
    for (let r = 0; r < out.length; r++) out[r] /= 1 - b + (b * ai.repoWords[r].length) / ai.meanWords;
  }
  return out;
}
