/**
 * Okapi BM25 (k1 = 1.2, b = 0.75 by default) over pre-tokenized documents.
 * Query terms may carry weights (used for expanded queries); a plain query
 * gives every distinct term weight 1 per occurrence.
 */
import { tokenize } from "./tokenizer.ts";

export interface Bm25Options {
  k1?: number;
  b?: number;
}

/** BM25's IDF of a term found in `df` of `n` documents (never negative). */
function bm25Idf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  readonly n: number;
  readonly avgdl: number;
  readonly docLen: Float64Array;
  /** term → [docIndex, tf] pairs flattened. */
  private readonly postings = new Map<string, Int32Array>();
  private readonly idfCache = new Map<string, number>();

  constructor(docs: string[][], opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    this.n = docs.length;
    this.docLen = new Float64Array(docs.length);
    const tmp = new Map<string, number[]>();
    let total = 0;
    docs.forEach((terms, d) => {
      this.docLen[d] = terms.length;
      total += terms.length;
      const tf = new Map<string, number>();
      for (const t of terms) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const [t, c] of tf) {
        let p = tmp.get(t);
        if (!p) tmp.set(t, p = []);
        p.push(d, c);
      }
    });
    this.avgdl = docs.length ? Math.max(1, total / docs.length) : 1;
    for (const [t, p] of tmp) this.postings.set(t, Int32Array.from(p));
  }

  static fromTexts(texts: string[], opts?: Bm25Options): Bm25Index {
    return new Bm25Index(texts.map((t) => tokenize(t)), opts);
  }

  has(term: string): boolean {
    return this.postings.has(term);
  }

  /** Number of documents containing the term. */
  df(term: string): number {
    const p = this.postings.get(term);
    return p ? p.length / 2 : 0;
  }

  idf(term: string): number {
    let v = this.idfCache.get(term);
    if (v === undefined) {
      v = bm25Idf(this.n, this.df(term));
      this.idfCache.set(term, v);
    }
    return v;
  }

  /** The largest IDF a term can have here: that of a term no document contains. */
  get maxIdf(): number {
    return bm25Idf(this.n, 0);
  }

  terms(): IterableIterator<string> {
    return this.postings.keys();
  }

  /** Scores every document for the (weighted) query terms. */
  score(query: string[] | Map<string, number>): Float64Array {
    const scores = new Float64Array(this.n);
    const weights = new Map<string, number>();
    if (Array.isArray(query)) { for (const t of query) weights.set(t, (weights.get(t) ?? 0) + 1); }
    else for (const [t, w] of query) weights.set(t, w);
    const { k1, b, avgdl } = this;
    for (const [t, qw] of weights) {
      const p = this.postings.get(t);
      if (!p || qw === 0) continue;
      const idf = this.idf(t) * qw;
      for (let i = 0; i < p.length; i += 2) {
        const d = p[i];
        const tf = p[i + 1];
        const norm = k1 * (1 - b + (b * this.docLen[d]) / avgdl);
        scores[d] += (idf * tf * (k1 + 1)) / (tf + norm);
      }
    }
    return scores;
  }

  scoreText(query: string): Float64Array {
    return this.score(tokenize(query));
  }
}
