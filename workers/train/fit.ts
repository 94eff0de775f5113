/**
 * Fits the dual encoder (shared/ranking/model.ts) on (text → repo) pairs
 * with TF.js on whichever backend is active.
 *
 * Per step, the rows of the feature-embedding table that the batch touches
 * are gathered on the host into a dense [U, dim] block; TF.js computes the
 * batch's multi-hot × block product, the normalised cosine logits against
 * every repository vector (all repositories are negatives: a superset of
 * in-batch negatives), the softmax cross-entropy and the gradients; the
 * block's update (lazy Adam) is scattered back on the host. Only the rows a
 * batch uses move, so a step costs the same whatever the vocabulary size.
 * Deterministic for a seed on a given backend.
 */
import type * as tfType from "@tensorflow/tfjs";
import { rng, shuffle } from "../../shared/ranking/hash.ts";
import {
  buildIndex,
  DEFAULT_MODEL_CONFIG,
  featurize,
  type ModelConfig,
  type RankingModel,
} from "../../shared/ranking/model.ts";
import type { Pair } from "../../shared/ranking/pairs.ts";
import { pooledWordVector, type WordVectors } from "../../shared/ranking/word-vectors.ts";

export interface FitOptions {
  seed?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  config?: Partial<ModelConfig>;
  /** Drop each word of a training text with this probability (augmentation). */
  wordDropout?: number;
  /**
   * Share of training examples that see only the word-vector branch (their
   * lexical features are hidden), so the projection learns to place texts by
   * meaning rather than lean on exact words.
   */
  lexicalDropout?: number;
  /** Pretrained word vectors (restricted to what the model keeps); null: none. */
  wordVectors?: WordVectors | null;
  log?: (msg: string) => void;
}

export const DEFAULT_FIT: Required<Omit<FitOptions, "config" | "log" | "wordVectors">> = {
  seed: 42,
  epochs: 10,
  batchSize: 128,
  learningRate: 0.05,
  wordDropout: 0.1,
  lexicalDropout: 0.5,
};

export interface FitResult {
  model: Omit<RankingModel, "meta">;
  epochs: number;
  steps: number;
  finalLoss: number;
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

interface Encoded {
  ids: Int32Array;
  w: Float32Array;
  repo: number;
  /** Pooled pretrained word vector (when word vectors are used). */
  g?: Float32Array;
}

function dropWords(text: string, p: number, rand: () => number): string {
  if (p <= 0) return text;
  const ws = text.split(/\s+/);
  if (ws.length < 4) return text;
  const kept = ws.filter(() => rand() >= p);
  return kept.length ? kept.join(" ") : text;
}

export async function fitModel(
  tf: typeof tfType,
  repoNames: string[],
  pairs: Pair[],
  opts: FitOptions = {},
): Promise<FitResult> {
  const o = { ...DEFAULT_FIT, ...opts };
  const cfg: ModelConfig = { ...DEFAULT_MODEL_CONFIG, ...(opts.config ?? {}) };
  const d = cfg.dim;
  const N = repoNames.length;
  const rand = rng(o.seed);

  // Vocabulary: every feature of the training texts (bigrams seen at least twice).
  const counts = new Map<string, number>();
  const bags = pairs.map((p) => featurize(p.text, cfg));
  for (const b of bags) for (const f of b.features) counts.set(f, (counts.get(f) ?? 0) + 1);
  const vocab = [...counts.keys()].filter((f) => !f.startsWith("b:") || (counts.get(f) ?? 0) >= 2);
  const index = buildIndex(vocab);
  const V = vocab.length;

  const E = new Float32Array(V * d);
  for (let i = 0; i < E.length; i++) E[i] = 0.1 * gaussian(rand);
  const R = new Float32Array(N * d);
  for (let i = 0; i < R.length; i++) R[i] = 0.1 * gaussian(rand);
  const mE = new Float32Array(V * d), vE = new Float32Array(V * d);
  const mR = new Float32Array(N * d), vR = new Float32Array(N * d);
  const wv = opts.wordVectors && cfg.wordVectorWeight > 0 ? opts.wordVectors : null;
  const G = wv ? wv.dim : 0;
  const P = new Float32Array(G * d);
  for (let i = 0; i < P.length; i++) P[i] = 0.1 * gaussian(rand);
  const mP = new Float32Array(G * d), vP = new Float32Array(G * d);
  const b1 = 0.9, b2 = 0.999, eps = 1e-8;

  const encodeBag = (text: string, repo: number): Encoded | null => {
    const bag = featurize(text, cfg);
    const ids: number[] = [], w: number[] = [];
    bag.features.forEach((f, k) => {
      const id = index.get(f);
      if (id !== undefined) {
        ids.push(id);
        w.push(bag.weights[k]);
      }
    });
    const g = wv ? pooledWordVector(wv, text) : undefined;
    return ids.length || g?.some((x) => x !== 0)
      ? { ids: Int32Array.from(ids), w: Float32Array.from(w), repo, ...(g ? { g } : {}) }
      : null;
  };

  const base: Encoded[] = [];
  pairs.forEach((p) => {
    const e = encodeBag(p.text, p.repo);
    if (e) base.push(e);
  });

  let step = 0;
  let lastLoss = NaN;
  const scale = cfg.scale;

  const lossFn = (S: tfType.Tensor2D, Y: tfType.Tensor2D, Gt: tfType.Tensor2D | null) =>
  (
    Esub: tfType.Tensor,
    Rt: tfType.Tensor,
    Pt?: tfType.Tensor,
  ) => {
    let q = tf.matMul(S, Esub as tfType.Tensor2D);
    if (Gt && Pt) q = tf.add(q, tf.mul(tf.matMul(Gt, Pt as tfType.Tensor2D), cfg.wordVectorWeight));
    // x / sqrt(|x|² + ε): finite gradient even for an all-zero row.
    const qn = tf.mul(q, tf.rsqrt(tf.add(tf.sum(tf.square(q), 1, true), 1e-8)));
    const rn = tf.mul(Rt, tf.rsqrt(tf.add(tf.sum(tf.square(Rt), 1, true), 1e-8)));
    const logits = tf.mul(tf.matMul(qn, rn as tfType.Tensor2D, false, true), scale);
    return tf.losses.softmaxCrossEntropy(Y, logits) as tfType.Scalar;
  };

  for (let epoch = 0; epoch < o.epochs; epoch++) {
    // Augmented copies for this epoch (word dropout), deterministic for the seed.
    const batchItems: Encoded[] = [];
    for (let i = 0; i < pairs.length; i++) {
      if (o.wordDropout > 0 && epoch > 0) {
        const e = encodeBag(dropWords(pairs[i].text, o.wordDropout, rand), pairs[i].repo);
        if (e) batchItems.push(e);
      }
    }
    const items = epoch > 0 && o.wordDropout > 0 ? batchItems : base.slice();
    shuffle(items, rand);
    let epochLoss = 0, batches = 0;
    for (let s = 0; s < items.length; s += o.batchSize) {
      const batch = items.slice(s, s + o.batchSize);
      const B = batch.length;
      // Local vocabulary of the batch.
      const local = new Map<number, number>();
      for (const it of batch) for (const id of it.ids) if (!local.has(id)) local.set(id, local.size);
      const U = local.size;
      const uniq = new Int32Array(U);
      for (const [g, l] of local) uniq[l] = g;
      const Sd = new Float32Array(B * U);
      const Yd = new Float32Array(B * N);
      const Gd = wv ? new Float32Array(B * G) : null;
      if (Gd) batch.forEach((it, bi) => it.g && Gd.set(it.g, bi * G));
      batch.forEach((it, bi) => {
        if (wv && o.lexicalDropout > 0 && it.g && rand() < o.lexicalDropout) {
          Yd[bi * N + it.repo] = 1;
          return;
        }
        for (let k = 0; k < it.ids.length; k++) Sd[bi * U + local.get(it.ids[k])!] += it.w[k];
        Yd[bi * N + it.repo] = 1;
      });
      const Ed = new Float32Array(U * d);
      for (let l = 0; l < U; l++) Ed.set(E.subarray(uniq[l] * d, uniq[l] * d + d), l * d);

      // One read-back per step: [gradient of the block | gradient of R | loss].
      const packed = tf.tidy(() => {
        const S = tf.tensor2d(Sd, [B, U]);
        const Y = tf.tensor2d(Yd, [B, N]);
        const Es = tf.tensor2d(Ed, [U, d]);
        const Rt = tf.tensor2d(R, [N, d]);
        if (Gd) {
          const Gt = tf.tensor2d(Gd, [B, G]);
          const Pt = tf.tensor2d(P, [G, d]);
          const { value, grads } = tf.valueAndGrads(lossFn(S, Y, Gt))([Es, Rt, Pt]);
          return tf.concat([
            grads[0].reshape([-1]),
            grads[1].reshape([-1]),
            grads[2].reshape([-1]),
            value.reshape([1]),
          ]);
        }
        const { value, grads } = tf.valueAndGrads(lossFn(S, Y, null))([Es, Rt]);
        return tf.concat([grads[0].reshape([-1]), grads[1].reshape([-1]), value.reshape([1])]);
      });
      const all = (await packed.data()) as Float32Array;
      packed.dispose();
      const gEd = all.subarray(0, U * d);
      const gRd = all.subarray(U * d, U * d + N * d);
      const gPd = all.subarray(U * d + N * d, U * d + N * d + G * d);
      const lossV = all.subarray(U * d + N * d + G * d);
      step++;
      const lrT = o.learningRate * Math.sqrt(1 - Math.pow(b2, step)) / (1 - Math.pow(b1, step));
      // lazy Adam on the touched rows
      for (let l = 0; l < U; l++) {
        const gb = uniq[l] * d;
        for (let j = 0; j < d; j++) {
          const g = gEd[l * d + j];
          const m = (mE[gb + j] = b1 * mE[gb + j] + (1 - b1) * g);
          const v = (vE[gb + j] = b2 * vE[gb + j] + (1 - b2) * g * g);
          E[gb + j] -= (lrT * m) / (Math.sqrt(v) + eps);
        }
      }
      for (let i = 0; i < R.length; i++) {
        const g = gRd[i];
        const m = (mR[i] = b1 * mR[i] + (1 - b1) * g);
        const v = (vR[i] = b2 * vR[i] + (1 - b2) * g * g);
        R[i] -= (lrT * m) / (Math.sqrt(v) + eps);
      }
      for (let i = 0; i < P.length; i++) {
        const g = gPd[i];
        const m = (mP[i] = b1 * mP[i] + (1 - b1) * g);
        const v = (vP[i] = b2 * vP[i] + (1 - b2) * g * g);
        P[i] -= (lrT * m) / (Math.sqrt(v) + eps);
      }
      epochLoss += lossV[0];
      batches++;
    }
    lastLoss = epochLoss / Math.max(1, batches);
    // Let timers run (queue heartbeats): wasm/cpu reads resolve as microtasks.
    await new Promise((r) => setTimeout(r, 0));
    if (!Number.isFinite(lastLoss)) throw new Error(`training diverged at epoch ${epoch + 1} (loss ${lastLoss})`);
    opts.log?.(`epoch ${epoch + 1}/${o.epochs} loss ${lastLoss.toFixed(4)}`);
  }

  // Unit repository vectors for inference.
  for (let r = 0; r < N; r++) {
    let n = 0;
    for (let j = 0; j < d; j++) n += R[r * d + j] ** 2;
    n = Math.sqrt(n) || 1;
    for (let j = 0; j < d; j++) R[r * d + j] /= n;
  }
  return {
    model: {
      config: wv ? cfg : { ...cfg, wordVectorWeight: 0 },
      vocab,
      index,
      embeddings: E,
      repoNames: repoNames.slice(),
      repoVectors: R,
      wordVectors: wv,
      projection: wv ? P : null,
    },
    epochs: o.epochs,
    steps: step,
    finalLoss: lastLoss,
  };
}
