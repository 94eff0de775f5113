/**
 * One bundle's search index: BM25 over every repo's text, plus (optionally)
 * the user's model, fused. Used by /api/ai, the training gate and the eval.
 */
import { Bm25Index } from "./bm25.ts";
import {
  type AlignIndex,
  alignScores,
  buildAlignIndex,
  contentWordCount,
  lengthNormFor,
  salientParts,
} from "./align.ts";
import { DEFAULT_ALPHA, DEFAULT_GAMMA, fuse3, fuseScores, minMaxNormalize, rankIndices, zNormalize } from "./fusion.ts";
import { type RankingModel, repoPositions, scoreRepos } from "./model.ts";
import { identityText, type RankableRepo, type RepoFields, repoFields, repoText } from "./text-fields.ts";
import { tokenize } from "./tokenizer.ts";
import { DEFAULT_FEEDBACK, type FeedbackOptions, feedbackQuery } from "./feedback.ts";

/** How the fused ranking reads the question (the BM25 baseline ignores it). */
export interface FusionConfig {
  /** Relevance feedback from the first fused pass (weight 0: off). */
  feedback: FeedbackOptions & { source: "salient" | "full" };
  /** The sentence signal's largest weight (default SENTENCE_WEIGHT; scripts/tune-fusion.ts varies it). */
  sentenceWeight?: number;
}

export const DEFAULT_FUSION: FusionConfig = {
  feedback: { ...DEFAULT_FEEDBACK, source: "salient" },
};

/**
 * Identity signal: BM25 over each repo's name words, description, topics and
 * `.repo-context.json` project identity. A repo counts as having identity text
 * in proportion to min(1, identity tokens / IDENTITY_K); the signal's fusion
 * weight ramps from 0 when IDENTITY_MIN_SHARE of the user's repos have
 * identity text to IDENTITY_WEIGHT when all do. It is scaled per user, not per
 * repo: where most repos lack identity text (course repos with a bare README),
 * identity scores would only favour the few that have some. The weight stays
 * small because short fields matched word by word let one common word decide
 * ("lists" picks whichever package has it in its name), which the sentence
 * signal reads better.
 */
export const IDENTITY_K = 8;
export const IDENTITY_WEIGHT = 0.3;
/** Share of repos with identity text below which the identity signal is off. */
export const IDENTITY_MIN_SHARE = 0.5;

/**
 * Name signal, gated per query: it speaks only when the question's (stemmed)
 * words are words of repository names. Each query term found in some name
 * adds (idf / idfMax)^NAME_SPECIFICITY to those repos, idf being the term's
 * BM25 IDF over the full texts, so words common across READMEs
 * ("programming", "projects", "functions") add next to nothing while a rare
 * one adds much; the sum is scaled by the IDF-weighted share of query terms
 * that hit a name and by NAME_WEIGHT, and added to the fused standard scores
 * of those repos only. A question that names no repository word is
 * untouched. Why: for course repos whose READMEs are nearly empty the name is
 * the only text that matches, while an always-on signal over names (or IDF
 * over names alone) lets a common word of a name outrank the repo a keyword
 * question means. Words match after the stemmer's normalisation only
 * (interviews → interview), not by prefix, which adds false matches.
 */
export const NAME_WEIGHT = 2;
export const NAME_SPECIFICITY = 1.5;

/**
 * Hubness correction of the alignment on long questions. Some repositories
 * score high on the alignment for nearly any question (many salient words,
 * broad vocabulary: a curriculum repo, a platform with a long README): they
 * are "hubs" and crowd the top five of questions they do not answer. At
 * training time each repo's hubness is measured as its mean standardised
 * alignment score on the generated questions of the other repos (up to
 * HUBNESS_QUESTIONS, spread over the training pairs); on a question the
 * standardised alignment of each repo is lowered by HUBNESS_WEIGHT × its
 * hubness, ramped by question length like the length normalisation: a
 * keyword question, whose answers are often the broad repos, is left alone.
 */
export const HUBNESS_WEIGHT = 1;
export const HUBNESS_QUESTIONS = 400;

/**
 * The fusion's BM25 also reads the glossaries' words. The technology
 * glossary's (tech-glossary.ts: languages, tools) only for repositories whose
 * own text has fewer than SCARCE_TEXT_TERMS index terms: a course repository
 * that is only a name and a language ("java_exercises", Java) has nothing
 * else for a question to match, while a repository with a README already
 * names its tools, and the gloss of every tool it mentions would only blur
 * it. The concept glossary's (concept-glossary.ts: programming jargon in
 * everyday words) for every repository: its words are what a question
 * phrased as a need says instead of the jargon ("a digest of a string" for
 * "hash"). The BM25 baseline reads the repos' own text only.
 */
export const SCARCE_TEXT_TERMS = 100;

/**
 * Sentence signal: the cosine between the question's and each repository's
 * vector from a pretrained sentence encoder (the Universal Sentence Encoder
 * lite, installed from npm; sentence-encoder.ts) over the repository's name,
 * description and README start (sentenceText). It knows how people phrase a
 * need ("a hard to guess token" ~ "cryptographically strong random string")
 * beyond single words, which neither BM25, the user's own small encoder nor
 * the word alignment can. Mixed into the fused standard scores with weight
 * up to SENTENCE_WEIGHT, ramped by question length like the length
 * normalisation: a keyword question ("Flask applications") is answered by the
 * lexical signals, and there the sentence vectors only add noise. Chosen
 * together with the encoder's and the alignment's weights (DEFAULT_ALPHA,
 * DEFAULT_GAMMA in fusion.ts).
 */
export const SENTENCE_WEIGHT = 0.4;

/**
 * A sentence signal that singles one repository out is trusted at full
 * weight even on a question too short for the length ramp to give it that:
 * the weight rises from the ramp's to SENTENCE_WEIGHT as the best repo's
 * standard score goes from SENTENCE_CONFIDENT_Z to SENTENCE_CONFIDENT_Z +
 * SENTENCE_CONFIDENT_SPAN. Why: the ramp guards keyword questions against a
 * noisy signal, but a repo three deviations above the mean cosine is no
 * noise. A short question can name a need in words no repository text
 * shares ("split dinner costs with friends" for a bill-splitting app), and
 * BM25, the alignment and the user's encoder then have nothing to go on. So
 * /api/ai embeds every question.
 */
export const SENTENCE_CONFIDENT_Z = 3;
export const SENTENCE_CONFIDENT_SPAN = 0.5;

/** The sentence signal's weight for a question by its length (0 for keyword questions; SENTENCE_CONFIDENT_Z can raise it). */
export function sentenceWeight(query: string, max = SENTENCE_WEIGHT): number {
  return lengthNormFor(contentWordCount(query), max);
}

/**
 * Mixes one more signal into fused scores, both as standard scores:
 * (1 − weight) · fused + weight · signal, rescaled to [0, 1] (the identity
 * and the sentence signals).
 */
function mixIn(fused: Float64Array, signal: Float64Array, weight: number): Float64Array {
  const z = zNormalize(fused);
  const s = zNormalize(signal);
  for (let i = 0; i < z.length; i++) z[i] = (1 - weight) * z[i] + weight * s[i];
  return minMaxNormalize(z);
}

export type RankMode = "bm25" | "model" | "fusion";

/** How BundleIndex.rank ranks: the mode, and for "model" and "fusion" the user's model and its settings. */
export interface RankOptions {
  mode: RankMode;
  /** The user's model; without one every mode ranks by BM25. */
  model?: RankingModel | null;
  /** The learned encoder's fusion weight (default: the model's meta.alpha, else DEFAULT_ALPHA). */
  alpha?: number;
  /** The alignment's fusion weight (default: the model's meta.gamma, else DEFAULT_GAMMA). */
  gamma?: number;
  /** How the fusion reads the question (default DEFAULT_FUSION). */
  fusion?: FusionConfig;
  /** The question's sentence vector (by model.meta.sentence_encoder), for the fusion's sentence signal. */
  queryVector?: Float32Array | null;
}

export interface RankResult {
  /** Repo indices, best first. */
  order: number[];
  /** Score per repo index (the one the order is by). */
  scores: Float64Array;
  /** The sentence signal's weight in this ranking (0: it took no part). */
  sentenceWeight: number;
}

export class BundleIndex {
  readonly names: string[];
  readonly fields: RepoFields[];
  readonly texts: string[];
  readonly bm25: Bm25Index;
  /** The fusion's BM25: the same texts, plus the concept gloss, or the whole gloss for repos with scarce text (see SCARCE_TEXT_TERMS). */
  readonly fusionBm25: Bm25Index;
  readonly salient: string[];
  /** BM25 over each repo's name words and identity text (see identityText). */
  readonly identityBm25: Bm25Index;
  /** Per repo: how much identity text it has, as a weight in [0, 1]. */
  readonly identityCoverage: Float64Array;
  /** The identity signal's fusion weight for this bundle (0: off; see IDENTITY_WEIGHT). */
  readonly identityWeight: number;
  /** Per repo: its name's index terms (stemmed). */
  readonly nameTerms: Set<string>[];
  /** Name term → repos whose name has it. */
  private readonly nameIndex = new Map<string, number[]>();
  private readonly aligners = new WeakMap<object, AlignIndex>();
  /** Per model: each repo's row in its sentence vectors (-1: none). */
  private readonly sentenceRows = new WeakMap<RankingModel, Int32Array>();
  private salientTerms?: string[][];
  private fullTerms?: string[][];

  constructor(repos: RankableRepo[]) {
    this.names = repos.map((r) => r.name);
    const salient = repos.map(salientParts);
    this.salient = salient.map((s) => s.text);
    this.fields = repos.map(repoFields);
    this.texts = this.fields.map(repoText);
    const terms = this.texts.map((t) => tokenize(t));
    this.bm25 = new Bm25Index(terms);
    this.fusionBm25 = new Bm25Index(
      terms.map((ts, i) =>
        ts.concat(tokenize(ts.length >= SCARCE_TEXT_TERMS ? salient[i].concepts : salient[i].gloss))
      ),
    );
    const ids = repos.map(identityText);
    this.identityBm25 = new Bm25Index(ids.map((t, i) => tokenize(this.fields[i].nameText + ". " + t)));
    this.identityCoverage = Float64Array.from(ids, (t) => Math.min(1, tokenize(t).length / IDENTITY_K));
    let share = 0;
    for (const c of this.identityCoverage) share += c;
    share /= Math.max(1, this.identityCoverage.length);
    this.nameTerms = this.fields.map((f) => new Set(tokenize(f.nameText)));
    this.nameTerms.forEach((ts, i) => {
      for (const t of ts) {
        let l = this.nameIndex.get(t);
        if (!l) this.nameIndex.set(t, l = []);
        l.push(i);
      }
    });
    this.identityWeight = IDENTITY_WEIGHT * Math.max(0, (share - IDENTITY_MIN_SHARE) / (1 - IDENTITY_MIN_SHARE));
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

  /**
   * Each repo's hubness: its mean standardised alignment score on questions
   * generated from the other repos (see HUBNESS_WEIGHT). Keyed by repo name.
   * Empty when the model carries no word vectors.
   */
  alignHubness(model: RankingModel, questions: { text: string; repo: number }[]): Record<string, number> {
    const n = this.size;
    const sum = new Float64Array(n);
    const count = new Float64Array(n);
    const step = Math.max(1, Math.ceil(questions.length / HUBNESS_QUESTIONS));
    for (let k = 0; k < questions.length; k += step) {
      const q = questions[k];
      const raw = this.alignScores(model, q.text);
      if (!raw) return {};
      const z = zNormalize(raw);
      for (let i = 0; i < n; i++) {
        if (i === q.repo) continue;
        sum[i] += z[i];
        count[i]++;
      }
    }
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) out[this.names[i]] = count[i] ? Math.round((sum[i] / count[i]) * 1e4) / 1e4 : 0;
    return out;
  }

  /** Standardised alignment scores lowered by each repo's hubness, on long questions only. */
  private correctHubness(model: RankingModel, query: string, al: Float64Array | null): Float64Array | null {
    const hub = model.meta?.align_hubness;
    if (!al || !hub) return al;
    const w = HUBNESS_WEIGHT * lengthNormFor(contentWordCount(query), 1);
    if (!(w > 0)) return al;
    const z = zNormalize(al);
    for (let i = 0; i < z.length; i++) z[i] -= w * (hub[this.names[i]] ?? 0);
    return z;
  }

  private feedbackTerms(source: "salient" | "full"): string[][] {
    if (source === "full") return (this.fullTerms ??= this.texts.map((t) => tokenize(t)));
    return (this.salientTerms ??= this.salient.map((t) => tokenize(t)));
  }

  /**
   * The fused scores: BM25 over the question, the learned encoder and the
   * word-vector alignment; then, with feedback on, BM25 again over the
   * question plus the first pass's feedback terms (see feedback.ts), fused
   * with the same encoder and alignment scores. `sentenceWeight`: the
   * sentence signal's weight (0: none).
   */
  fusedScores(
    query: string,
    model: RankingModel,
    a: number,
    c: number,
    cfg: FusionConfig = DEFAULT_FUSION,
    queryVector?: Float32Array | null,
  ): { scores: Float64Array; sentenceWeight: number } {
    const q = new Map<string, number>();
    for (const t of tokenize(query)) q.set(t, (q.get(t) ?? 0) + 1);
    const m = this.modelScores(model, query);
    const al = this.correctHubness(model, query, this.alignScores(model, query));
    const sent = this.sentenceSignal(model, query, queryVector, cfg.sentenceWeight);
    const sentenceWeight = sent?.weight ?? 0;
    const first = this.withSentence(
      this.withName(this.withIdentity(fuse3(this.fusionBm25.score(q), m, al, a, c), q), q),
      sent,
    );
    if (!(cfg.feedback.weight > 0)) return { scores: first, sentenceWeight };
    const q2 = feedbackQuery(q, first, this.feedbackTerms(cfg.feedback.source), this.bm25, cfg.feedback);
    if (q2 === q) return { scores: first, sentenceWeight };
    const scores = this.withSentence(
      this.withName(this.withIdentity(fuse3(this.fusionBm25.score(q2), m, al, a, c), q), q),
      sent,
    );
    return { scores, sentenceWeight };
  }

  /**
   * Cosines between the question's sentence vector and each repo's (see
   * SENTENCE_WEIGHT), with the weight for this question (by its length, or
   * more when one repo stands out: SENTENCE_CONFIDENT_Z); null when the model
   * has no sentence vectors, no query vector was given, or the weight is 0 (a
   * short question no repo stands out for). A repo the model has no vector
   * for gets the mean cosine.
   */
  sentenceSignal(
    model: RankingModel,
    query: string,
    queryVector?: Float32Array | null,
    maxWeight = SENTENCE_WEIGHT,
  ): { weight: number; scores: Float64Array } | null {
    const sv = model.sentenceVectors;
    const dim = model.sentenceDim ?? 0;
    if (!sv || !queryVector || queryVector.length !== dim) return null;
    if (!(maxWeight > 0)) return null;
    let rows = this.sentenceRows.get(model);
    if (!rows) {
      const at = repoPositions(model);
      rows = Int32Array.from(this.names, (n) => at.get(n) ?? -1);
      this.sentenceRows.set(model, rows);
    }
    const scores = new Float64Array(this.size);
    const missing: number[] = [];
    let sum = 0;
    for (let i = 0; i < this.size; i++) {
      const r = rows[i];
      if (r < 0) {
        missing.push(i);
        continue;
      }
      let d = 0;
      for (let k = 0, o = r * dim; k < dim; k++) d += queryVector[k] * sv[o + k];
      scores[i] = d;
      sum += d;
    }
    const known = this.size - missing.length;
    for (const i of missing) scores[i] = known ? sum / known : 0;
    let top = -Infinity;
    for (const v of zNormalize(scores)) if (v > top) top = v;
    const confident = Math.min(1, Math.max(0, (top - SENTENCE_CONFIDENT_Z) / SENTENCE_CONFIDENT_SPAN));
    const weight = Math.max(sentenceWeight(query, maxWeight), maxWeight * confident);
    return weight > 0 ? { weight, scores } : null;
  }

  private withSentence(fused: Float64Array, sent: { weight: number; scores: Float64Array } | null): Float64Array {
    return sent ? mixIn(fused, sent.scores, sent.weight) : fused;
  }

  /**
   * Name scores and the gate: per repo, the specificity of the query terms
   * its name has (see NAME_WEIGHT); the gate is the IDF-weighted share of
   * query terms that occur in any name (0: no name is named).
   */
  nameSignal(q: Map<string, number>): { gate: number; scores: Float64Array } {
    const scores = new Float64Array(this.size);
    const idfMax = this.bm25.maxIdf;
    let hit = 0, all = 0;
    for (const t of q.keys()) {
      const w = this.bm25.idf(t);
      all += w;
      const repos = this.nameIndex.get(t);
      if (!repos) continue;
      hit += w;
      const add = (w / idfMax) ** NAME_SPECIFICITY;
      for (const i of repos) scores[i] += add;
    }
    return { gate: all > 0 ? hit / all : 0, scores };
  }

  private withName(fused: Float64Array, q: Map<string, number>): Float64Array {
    const { gate, scores } = this.nameSignal(q);
    if (!(gate > 0)) return fused;
    const z = zNormalize(fused);
    for (let i = 0; i < z.length; i++) z[i] += NAME_WEIGHT * gate * scores[i];
    return minMaxNormalize(z);
  }

  /** Identity BM25 scores (name words + identity text). */
  identityScores(q: Map<string, number>): Float64Array {
    return this.identityBm25.score(q);
  }

  private withIdentity(fused: Float64Array, q: Map<string, number>): Float64Array {
    const w = this.identityWeight;
    return w > 0 ? mixIn(fused, this.identityScores(q), w) : fused;
  }

  /** The ranking of every repo for `query` (see RankOptions). */
  rank(query: string, opts: RankOptions): RankResult {
    const { mode, model } = opts;
    let scores: Float64Array;
    let sentence = 0;
    const a = opts.alpha ?? model?.meta?.alpha ?? DEFAULT_ALPHA;
    const c = opts.gamma ?? model?.meta?.gamma ?? DEFAULT_GAMMA;
    if (mode === "bm25" || !model) scores = fuseScores(this.bm25Scores(query), null);
    else if (mode === "model") {
      // The model alone: learned encoder + alignment, BM25 left out.
      const al = this.alignScores(model, query);
      scores = al
        ? fuse3(new Float64Array(this.size), this.modelScores(model, query), al, a / (a + c), c / (a + c))
        : this.modelScores(model, query);
    } else {
      ({ scores, sentenceWeight: sentence } = this.fusedScores(query, model, a, c, opts.fusion, opts.queryVector));
    }
    return { order: rankIndices(scores), scores, sentenceWeight: sentence };
  }

  /** The repo names in rank() order. */
  rankNames(query: string, opts: RankOptions): string[] {
    return this.rank(query, opts).order.map((i) => this.names[i]);
  }
}
