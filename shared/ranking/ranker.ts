/**
 * One bundle's search index: BM25 over every repo's text, plus (optionally)
 * the user's model, fused. Used by /api/ai, the training gate and the eval.
 */
import { Bm25Index } from "./bm25.ts";
import { type AlignIndex, alignScores, buildAlignIndex, salientText } from "./align.ts";
import { DEFAULT_ALPHA, DEFAULT_GAMMA, fuse3, fuseScores, rankIndices } from "./fusion.ts";
import { type RankingModel, scoreRepos } from "./model.ts";
import { type RankableRepo, type RepoFields, repoFields, repoText } from "./text-fields.ts";
import { tokenize } from "./tokenizer.ts";
import { DEFAULT_FEEDBACK, type FeedbackOptions, feedbackQuery } from "./feedback.ts";

/** How the fused ranking reads the question (the BM25 baseline ignores it). */
export interface FusionConfig {
  /** Relevance feedback from the first fused pass (weight 0: off). */
  feedback: FeedbackOptions & { source: "salient" | "full" };
}

export const DEFAULT_FUSION: FusionConfig = {
  feedback: { ...DEFAULT_FEEDBACK, source: "salient" },
};

export type RankMode = "bm25" | "model" | "fusion";

export interface RankResult {
  /** Repo indices, best first. */
  order: number[];
  /** Score per repo index (the one the order is by). */
  scores: Float64Array;
}

export class BundleIndex {
  readonly names: string[];
  readonly fields: RepoFields[];
  readonly texts: string[];
  readonly bm25: Bm25Index;
  readonly salient: string[];
  private readonly aligners = new WeakMap<object, AlignIndex>();
  private salientTerms?: string[][];
  private fullTerms?: string[][];

  constructor(repos: RankableRepo[]) {
    this.names = repos.map((r) => r.name);
    this.salient = repos.map(salientText);
    this.fields = repos.map(repoFields);
    this.texts = this.fields.map(repoText);
    this.bm25 = new Bm25Index(this.texts.map((t) => tokenize(t)));
  }

  get size(): number {
    return this.names.length;
  }

  bm25Scores(query: string): Float64Array {
    return this.bm25.scoreText(query);
  }

  modelScores(model: RankingModel, query: string): Float64Array {
    return scoreRepos(model, query, this.names, (i) => this.texts[i]);
  }

  /** Word-vector alignment scores (null when the model carries no word vectors). */
  alignScores(model: RankingModel, query: string): Float64Array | null {
    const wv = model.wordVectors;
    if (!wv) return null;
    let ai = this.aligners.get(wv);
    if (!ai) {
      ai = buildAlignIndex(wv, this.salient);
      this.aligners.set(wv, ai);
    }
    return alignScores(ai, query);
  }

  private feedbackTerms(source: "salient" | "full"): string[][] {
    if (source === "full") return (this.fullTerms ??= this.texts.map((t) => tokenize(t)));
    return (this.salientTerms ??= this.salient.map((t) => tokenize(t)));
  }

  /**
   * The fused scores: BM25 over the question, the learned encoder and the
   * word-vector alignment; then, with feedback on, BM25 again over the
   * question plus the first pass's feedback terms (see feedback.ts), fused
   * with the same encoder and alignment scores.
   */
  fusedScores(
    query: string,
    model: RankingModel,
    a: number,
    c: number,
    cfg: FusionConfig = DEFAULT_FUSION,
  ): Float64Array {
    const q = new Map<string, number>();
    for (const t of tokenize(query)) q.set(t, (q.get(t) ?? 0) + 1);
    const m = this.modelScores(model, query);
    const al = this.alignScores(model, query);
    const first = fuse3(this.bm25.score(q), m, al, a, c);
    if (!(cfg.feedback.weight > 0)) return first;
    const q2 = feedbackQuery(q, first, this.feedbackTerms(cfg.feedback.source), this.bm25, cfg.feedback);
    if (q2 === q) return first;
    return fuse3(this.bm25.score(q2), m, al, a, c);
  }

  rank(
    query: string,
    mode: RankMode,
    model?: RankingModel | null,
    alpha?: number,
    gamma?: number,
    cfg?: FusionConfig,
  ): RankResult {
    let scores: Float64Array;
    const a = alpha ?? model?.meta?.alpha ?? DEFAULT_ALPHA;
    const c = gamma ?? model?.meta?.gamma ?? DEFAULT_GAMMA;
    if (mode === "bm25" || !model) scores = fuseScores(this.bm25Scores(query), null);
    else if (mode === "model") {
      // The model alone: learned encoder + alignment, BM25 left out.
      const al = this.alignScores(model, query);
      scores = al
        ? fuse3(new Float64Array(this.size), this.modelScores(model, query), al, a / (a + c), c / (a + c))
        : this.modelScores(model, query);
    } else {
      scores = this.fusedScores(query, model, a, c, cfg);
    }
    return { order: rankIndices(scores), scores };
  }

  rankNames(
    query: string,
    mode: RankMode,
    model?: RankingModel | null,
    alpha?: number,
    gamma?: number,
    cfg?: FusionConfig,
  ): string[] {
    return this.rank(query, mode, model, alpha, gamma, cfg).order.map((i) => this.names[i]);
  }
}
