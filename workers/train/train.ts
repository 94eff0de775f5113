/**
 * Training core: bundle → pairs → fitted model → promotion gate → artifacts
 * through the IOHandler → conditional swap of `models/{user}/current.json`.
 *
 * The gate ranks the bundle's held-out pairs with BM25 fused with the new
 * model and with the current one, and with each model alone; the new model
 * is promoted only when the mean of its fused and model-alone MRR (then
 * nDCG@5) is at least the current one's (see gateQuality). A user's first
 * model must keep at least FIRST_MODEL_FLOOR of BM25's held-out MRR. The
 * gate leaves the sentence signal out (no query vectors): it is pretrained,
 * the same for every model of a user, so it cannot tell two models apart. A failure anywhere
 * leaves the bundle and the current model untouched: the pointer is the
 * last thing written.
 */
import * as tf from "@tensorflow/tfjs";
import type { Bundle } from "../../shared/schemas/bundle.ts";
import type { BlobStore } from "../../shared/storage/types.ts";
import { DEFAULT_ALPHA, DEFAULT_GAMMA } from "../../shared/ranking/fusion.ts";
import { defaultWordVectors } from "../../shared/ranking/word-vectors-source.ts";
import { type MetricSummary, summarize } from "../../shared/ranking/metrics.ts";
import { dequantizeUnit, quantizeUnit, type RankingModel } from "../../shared/ranking/model.ts";
import { loadSentenceEncoder, type SentenceEncoder } from "../../shared/ranking/sentence-encoder.ts";
import { sentenceText } from "../../shared/ranking/text-fields.ts";
import { generatePairs, type Pair, type PairOptions, type PairSet } from "../../shared/ranking/pairs.ts";
import { BundleIndex } from "../../shared/ranking/ranker.ts";
import { words } from "../../shared/ranking/tokenizer.ts";
import { restrictWordVectors, type WordVectors } from "../../shared/ranking/word-vectors.ts";
import { loadModel, type ModelPointer, promoteModel, readModelPointer, saveModel } from "./model-io.ts";
import { DEFAULT_FIT, fitModel, type FitOptions } from "./fit.ts";
import { type BackendName, selectBackend } from "../../shared/ranking/select-backend.ts";

export const DEFAULT_SEED = 42;
/** First model of a user: its fused held-out MRR must reach this share of BM25's. */
export const FIRST_MODEL_FLOOR = 0.9;

export interface BuildOptions {
  backend?: string;
  seed?: number;
  fit?: FitOptions;
  pairs?: PairOptions;
  alpha?: number;
  /** Pretrained word vectors (the full table; restricted here to what the model keeps).
   *  undefined: the installed package's (see word-vectors-source.ts); null: none. */
  wordVectors?: WordVectors | null;
  gamma?: number;
  /** The pretrained sentence encoder (sentence-encoder.ts). undefined: the installed one; null: none. */
  sentenceEncoder?: SentenceEncoder | null;
  log?: (msg: string) => void;
}

/** Most frequent English words kept with every model (beyond the bundle's own words). */
export const WORD_VECTOR_TOP_K = 30_000;

export interface BuiltModel {
  model: RankingModel;
  pairs: PairSet;
  index: BundleIndex;
  train_ms: number;
}

/** Trains a model for a bundle on the active TF.js backend (what the worker and the eval both run). */
export async function buildUserModel(bundle: Bundle, opts: BuildOptions = {}): Promise<BuiltModel> {
  const seed = opts.seed ?? DEFAULT_SEED;
  const pairs = generatePairs(bundle.repos, { seed, ...(opts.pairs ?? {}) });
  if (!pairs.train.length) throw new Error("no training pairs: the bundle has no searchable text");
  const index = new BundleIndex(bundle.repos);
  const t0 = performance.now();
  let wordVectors: WordVectors | null = null;
  const source = opts.wordVectors === undefined ? defaultWordVectors(opts.log) : opts.wordVectors;
  if (source) {
    const own = new Set<string>();
    // The salient texts too: they end with the glossaries' plain words, which the bundle's own text may not
    // use and which are often rarer than the top-K kept anyway ("clipboard", "orchestration", "concurrency").
    for (const t of [...index.texts, ...index.salient]) for (const w of words(t)) own.add(w);
    wordVectors = restrictWordVectors(source, own, WORD_VECTOR_TOP_K);
  }
  const fit = await fitModel(tf, index.names, pairs.train, { seed, wordVectors, ...(opts.fit ?? {}), log: opts.log });
  const train_ms = Math.round(performance.now() - t0);
  const epochs = fit.epochs;
  const model: RankingModel = {
    ...fit.model,
    meta: {
      username: bundle.username.toLowerCase(),
      content_fingerprint: bundle.content_fingerprint,
      backend: opts.backend ?? tf.getBackend(),
      seed,
      trained_at: new Date().toISOString(),
      train_ms,
      epochs,
      pairs: pairs.train.length,
      held_out: pairs.heldOut.length,
      alpha: opts.alpha ?? DEFAULT_ALPHA,
      gamma: wordVectors ? opts.gamma ?? DEFAULT_GAMMA : 0,
    },
  };
  // Hubness of each repo under the new model's alignment, from the training questions only;
  // part of training, so counted in its time.
  if (wordVectors) model.meta.align_hubness = index.alignHubness(model, pairs.train);
  // The repos' sentence vectors, stored with the model (as stored: quantised), also counted.
  const encoder = opts.sentenceEncoder === undefined ? await installedSentenceEncoder(opts.log) : opts.sentenceEncoder;
  // model.repoNames is index.names (fitModel keeps the order it was given).
  const vecs = encoder ? await sentenceVectors(encoder, index.fields.map(sentenceText), opts.log) : null;
  if (encoder && vecs) {
    model.sentenceVectors = dequantizeUnit(quantizeUnit(vecs));
    model.sentenceDim = encoder.dim;
    model.meta.sentence_encoder = encoder.id;
  }
  model.meta.train_ms = Math.round(performance.now() - t0);
  return { model, pairs, index, train_ms: model.meta.train_ms };
}

/**
 * The texts' sentence vectors, row after row; null (logged) when the encoder
 * fails — the model is still good without them (the sentence signal is then
 * off for this user).
 */
async function sentenceVectors(
  encoder: SentenceEncoder,
  texts: string[],
  log?: (msg: string) => void,
): Promise<Float32Array | null> {
  try {
    const vecs = await encoder.embed(texts);
    const flat = new Float32Array(vecs.length * encoder.dim);
    vecs.forEach((v, i) => flat.set(v, i * encoder.dim));
    return flat;
  } catch (err) {
    log?.(`sentence vectors failed (${(err as Error).message}); model trained without them`);
    return null;
  }
}

/** The installed sentence encoder on the active backend, or null (logged) when it cannot be loaded. */
async function installedSentenceEncoder(log?: (msg: string) => void): Promise<SentenceEncoder | null> {
  try {
    return await loadSentenceEncoder(tf);
  } catch (err) {
    log?.(`sentence encoder unavailable (${(err as Error).message}); training without sentence vectors`);
    return null;
  }
}

/** Fused ranking quality on held-out pairs (model null: BM25 alone; mode "model": the model without BM25). */
export function heldOutQuality(
  index: BundleIndex,
  heldOut: Pair[],
  model: RankingModel | null,
  mode: "fusion" | "model" = "fusion",
): MetricSummary {
  return summarize(
    heldOut.map((p) => ({
      ranked: index.rankNames(p.text, { mode: model ? mode : "bm25", model }),
      relevant: [index.names[p.repo]],
    })),
  );
}

/**
 * What the gate compares two models by: the mean of the fused ranking's
 * quality and the model's own (BM25 left out). Held-out pairs are passages
 * of the repositories' own text, where BM25 finds the source almost alone;
 * with standard-score fusion a strong BM25 match keeps its say, so the fused
 * figures barely move between two models (a model with its repository
 * vectors shuffled ranked within 0.001 MRR of the real one). The part two
 * models differ in is the model, so its own ranking counts half.
 */
export function gateQuality(index: BundleIndex, heldOut: Pair[], model: RankingModel): MetricSummary {
  const f = heldOutQuality(index, heldOut, model, "fusion");
  const m = heldOutQuality(index, heldOut, model, "model");
  const out = {} as MetricSummary;
  for (const k of Object.keys(f) as Array<keyof MetricSummary>) {
    (out as unknown as Record<string, number>)[k] = ((f[k] as number) + (m[k] as number)) / 2;
  }
  return out;
}

/** true when `candidate` is at least as good as `current` (MRR, then nDCG@5). */
export function atLeastAsGood(candidate: MetricSummary, current: MetricSummary): boolean {
  const eps = 1e-9;
  if (candidate.mrr > current.mrr + eps) return true;
  if (candidate.mrr < current.mrr - eps) return false;
  return candidate["ndcg@5"] >= current["ndcg@5"] - eps;
}

export interface TrainUserModelInput {
  bundle: Bundle;
  store: BlobStore;
  /** The backend to train on (selected by the caller; "" / undefined: automatic). */
  backend?: BackendName | string;
  seed?: number;
  /** The model currently serving (loaded from `models/{user}/current.json` when omitted). */
  currentModel?: RankingModel | null;
  fit?: FitOptions;
  /** Word vectors (undefined: the installed package's; null: none). */
  wordVectors?: WordVectors | null;
  /** Sentence encoder (undefined: the installed one; null: none). */
  sentenceEncoder?: SentenceEncoder | null;
  log?: (msg: string) => void;
  /** Test hook: replaces the trained model before the gate (e.g. a deliberately worse one). */
  transformModel?: (m: RankingModel) => RankingModel;
}

export type TrainOutcome =
  | {
    status: "trained";
    pointer: ModelPointer;
    model: RankingModel;
    train_ms: number;
    candidate: MetricSummary;
    current: MetricSummary | null;
    message: string;
  }
  | {
    status: "training_skipped";
    reason: string;
    train_ms: number;
    candidate?: MetricSummary;
    current?: MetricSummary | null;
  };

export async function trainUserModel(input: TrainUserModelInput): Promise<TrainOutcome> {
  const { bundle, store } = input;
  const log = input.log ?? (() => {});
  const user = bundle.username.toLowerCase();

  if (input.backend && tf.getBackend() !== input.backend) {
    await selectBackend(tf, { forced: input.backend as BackendName, log });
  }
  const backend = tf.getBackend();

  const currentPtr = await readModelPointer(store, user);
  if (currentPtr && currentPtr.pointer.content_fingerprint === bundle.content_fingerprint) {
    return {
      status: "training_skipped",
      reason: `the current model was already trained on content ${bundle.content_fingerprint}`,
      train_ms: 0,
    };
  }
  let current: RankingModel | null = input.currentModel ?? null;
  if (input.currentModel === undefined && currentPtr) {
    try {
      current = await loadModel(store, currentPtr.pointer.prefix);
    } catch (err) {
      log(`current model of ${user} unreadable (${(err as Error).message}); gating against BM25`);
      current = null;
    }
  }

  const built = await buildUserModel(bundle, {
    backend,
    seed: input.seed,
    fit: input.fit,
    log,
    ...(input.wordVectors !== undefined ? { wordVectors: input.wordVectors } : {}),
    ...(input.sentenceEncoder !== undefined ? { sentenceEncoder: input.sentenceEncoder } : {}),
  });
  const model = input.transformModel ? input.transformModel(built.model) : built.model;
  const candidate = heldOutQuality(built.index, built.pairs.heldOut, model);
  const bm25Q = heldOutQuality(built.index, built.pairs.heldOut, null);
  const currentQ = current ? heldOutQuality(built.index, built.pairs.heldOut, current) : null;
  const candidateG = current ? gateQuality(built.index, built.pairs.heldOut, model) : null;
  const currentG = current ? gateQuality(built.index, built.pairs.heldOut, current) : null;
  log(
    `held-out fused quality: new ${JSON.stringify(candidate)}; ` +
      `${currentQ ? `current ${JSON.stringify(currentQ)}; ` : ""}bm25 ${JSON.stringify(bm25Q)}`,
  );
  if (currentQ && candidateG && currentG && !atLeastAsGood(candidateG, currentG)) {
    return {
      status: "training_skipped",
      reason: `new model ranks held-out pairs worse than the current model ` +
        `(gate MRR, mean of fused and model-alone, ${candidateG.mrr} < ${currentG.mrr}; fused MRR ${candidate.mrr} vs ${currentQ.mrr}, nDCG@5 ${
          candidate["ndcg@5"]
        } vs ${currentQ["ndcg@5"]}); previous model kept`,
      train_ms: built.train_ms,
      candidate,
      current: currentQ,
    };
  }
  // With no model yet, a sanity floor: held-out pairs are passages of the repos' own text, where
  // BM25 is at its strongest, so the fused ranking may trail it a little but not collapse.
  if (!currentQ && candidate.mrr < FIRST_MODEL_FLOOR * bm25Q.mrr) {
    return {
      status: "training_skipped",
      reason: `new model's fused held-out MRR ${candidate.mrr} is below ${FIRST_MODEL_FLOOR} × BM25's ${bm25Q.mrr}; ` +
        `answers stay on BM25`,
      train_ms: built.train_ms,
      candidate,
      current: null,
    };
  }

  const prefix = await saveModel(store, model);
  const pointer: ModelPointer = {
    username: user,
    content_fingerprint: bundle.content_fingerprint,
    prefix,
    backend,
    trained_at: model.meta.trained_at,
    metrics: { held_out: candidate, previous: currentQ, bm25: bm25Q, train_ms: built.train_ms },
  };
  const promoted = await promoteModel(store, pointer, currentPtr?.version ?? null);
  if (!promoted) {
    return {
      status: "training_skipped",
      reason: "another training promoted a model for this user meanwhile; it stays",
      train_ms: built.train_ms,
      candidate,
      current: currentQ,
    };
  }
  return {
    status: "trained",
    pointer,
    model,
    train_ms: built.train_ms,
    candidate,
    current: currentQ,
    message: `model trained on ${backend} in ${built.train_ms} ms (${model.meta.pairs} pairs); ` +
      `held-out fused MRR ${candidate.mrr} (${currentQ ? `current model ${currentQ.mrr}` : `BM25 ${bm25Q.mrr}`})`,
  };
}

export { DEFAULT_FIT };
