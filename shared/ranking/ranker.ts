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

  rank(query: string, mode: RankMode, model?: RankingModel | null, alpha?: number, gamma?: number): RankResult {
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
      scores = fuse3(this.bm25Scores(query), this.modelScores(model, query), this.alignScores(model, query), a, c);
    }
    return { order: rankIndices(scores), scores };
  }

  rankNames(query: string, mode: RankMode, model?: RankingModel | null, alpha?: number, gamma?: number): string[] {
    return this.rank(query, mode, model, alpha, gamma).order.map((i) => this.names[i]);
  }
}
