/**
 * One bundle's search index: BM25 over every repo's text, plus (optionally)
 * the user's model, fused. Used by /api/ai, the training gate and the eval.
 */
import { Bm25Index } from "./bm25.ts";
import { DEFAULT_ALPHA, fuseScores, rankIndices } from "./fusion.ts";
import { type RankingModel, scoreRepos } from "./model.ts";
import { type RankableRepo, type RepoFields, repoFields, repoText } from "./text-fields.ts";
import { tokenize } from "./tokenizer.ts";

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

  constructor(repos: RankableRepo[]) {
    this.names = repos.map((r) => r.name);
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

  rank(query: string, mode: RankMode, model?: RankingModel | null, alpha?: number): RankResult {
    let scores: Float64Array;
    if (mode === "bm25" || !model) scores = fuseScores(this.bm25Scores(query), null);
    else if (mode === "model") scores = this.modelScores(model, query);
    else {
      scores = fuseScores(this.bm25Scores(query), this.modelScores(model, query), {
        alpha: alpha ?? model.meta?.alpha ?? DEFAULT_ALPHA,
      });
    }
    return { order: rankIndices(scores), scores };
  }

  rankNames(query: string, mode: RankMode, model?: RankingModel | null, alpha?: number): string[] {
    return this.rank(query, mode, model, alpha).order.map((i) => this.names[i]);
  }
}
