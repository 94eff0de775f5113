/**
 * The per-user semantic model: a dual encoder whose text tower is a bag of
 * word, word-bigram and character n-gram features (an embedding per
 * feature, weighted sum, L2-normalised) and whose repo tower is one learned
 * vector per repository. It is trained (workers/train, TF.js) with a softmax
 * over every repository of the bundle, a superset of in-batch negatives.
 *
 * Inference here is plain TypeScript over the weights (no TF.js), so it runs
 * the same in Bun, Deno and browsers, in well under a millisecond per query.
 *
 * Artifacts follow TF.js's ModelArtifacts shape (modelTopology + weightSpecs
 * + weightData) so that they are saved and loaded through an IOHandler.
 */
import { isStopWord, tokenize, words } from "./tokenizer.ts";
import { makeWordVectors, pooledWordVector, type WordVectors } from "./word-vectors.ts";

export const MODEL_FORMAT = "foliosync-dual-encoder";
export const MODEL_VERSION = 1;

export interface ModelConfig {
  dim: number;
  /** Character n-gram sizes over each word with boundary marks ("<word>"). */
  charN: number[];
  wordWeight: number;
  bigramWeight: number;
  /** Total weight of one word's character n-grams (shared among them). */
  charWeight: number;
  /** Cosine → logit scale used in training. */
  scale: number;
  /** Weight of the projected pretrained word-vector average (0: none). */
  wordVectorWeight: number;
}

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  dim: 64,
  charN: [3, 4],
  wordWeight: 1,
  bigramWeight: 0.5,
  charWeight: 0,
  scale: 20,
  wordVectorWeight: 2,
};

export interface FeatureBag {
  features: string[];
  weights: number[];
}

/** Text → weighted features (duplicates summed). */
export function featurize(text: string, cfg: ModelConfig = DEFAULT_MODEL_CONFIG): FeatureBag {
  const acc = new Map<string, number>();
  const add = (f: string, w: number) => acc.set(f, (acc.get(f) ?? 0) + w);
  const toks = tokenize(text);
  for (const t of toks) add("w:" + t, cfg.wordWeight);
  for (let i = 0; i + 1 < toks.length; i++) add("b:" + toks[i] + " " + toks[i + 1], cfg.bigramWeight);
  if (cfg.charWeight > 0 && cfg.charN.length) {
    for (const w of words(text)) {
      if (w.length < 3 || isStopWord(w) || w.length > 30) continue;
      const s = "<" + w + ">";
      const grams: string[] = [];
      for (const n of cfg.charN) for (let i = 0; i + n <= s.length; i++) grams.push(s.slice(i, i + n));
      const gw = cfg.charWeight / grams.length;
      for (const g of grams) add("c:" + g, gw);
    }
  }
  return { features: [...acc.keys()], weights: [...acc.values()] };
}

export interface ModelMeta {
  username: string;
  content_fingerprint: string;
  backend: string;
  seed: number;
  trained_at: string;
  train_ms: number;
  epochs: number;
  pairs: number;
  held_out: number;
  /** Fusion weight of the learned encoder (0..1). */
  alpha: number;
  /** Fusion weight of the word-vector alignment (0..1; alpha + gamma < 1, BM25 has the rest). */
  gamma?: number;
  /** Held-out metrics measured at training time. */
  metrics?: Record<string, unknown>;
  /**
   * Per repo name: its mean standardised alignment score on the generated
   * questions of the other repos (see alignHubness in ranker.ts). A model
   * without it gets no correction.
   */
  align_hubness?: Record<string, number>;
  /** The pretrained sentence encoder of `sentenceVectors` (SENTENCE_ENCODER_ID), when the model has them. */
  sentence_encoder?: string;
}

export interface RankingModel {
  config: ModelConfig;
  meta: ModelMeta;
  vocab: string[];
  index: Map<string, number>;
  /** vocab.length × dim. */
  embeddings: Float32Array;
  repoNames: string[];
  /** repoNames.length × dim, L2-normalised. */
  repoVectors: Float32Array;
  /** Pretrained word vectors (restricted) and their learned projection (wordVectors.dim × dim). */
  wordVectors?: WordVectors | null;
  projection?: Float32Array | null;
  /**
   * Pretrained sentence vectors of the repos (repoNames.length × sentenceDim,
   * unit length; sentence-encoder.ts), computed at training time; the query's
   * is computed per question by the same encoder (meta.sentence_encoder).
   */
  sentenceVectors?: Float32Array | null;
  sentenceDim?: number;
}

export function buildIndex(vocab: string[]): Map<string, number> {
  const m = new Map<string, number>();
  vocab.forEach((f, i) => m.set(f, i));
  return m;
}

function l2normalizeInPlace(v: Float32Array, offset = 0, dim = v.length): void {
  let s = 0;
  for (let i = 0; i < dim; i++) s += v[offset + i] * v[offset + i];
  const n = Math.sqrt(s);
  if (n > 1e-12) { for (let i = 0; i < dim; i++) v[offset + i] /= n; }
}

/** Encodes a text into the model space (unit vector; zeros when no feature is known). */
export function encode(
  model: Pick<RankingModel, "config" | "index" | "embeddings" | "wordVectors" | "projection">,
  text: string,
): Float32Array {
  const d = model.config.dim;
  const out = new Float32Array(d);
  if (model.wordVectors && model.projection && model.config.wordVectorWeight > 0) {
    const wv = model.wordVectors;
    const g = pooledWordVector(wv, text);
    const gw = model.config.wordVectorWeight;
    for (let i = 0; i < wv.dim; i++) {
      const gi = g[i] * gw;
      if (gi === 0) continue;
      const base = i * d;
      for (let j = 0; j < d; j++) out[j] += gi * model.projection[base + j];
    }
  }
  const bag = featurize(text, model.config);
  for (let k = 0; k < bag.features.length; k++) {
    const id = model.index.get(bag.features[k]);
    if (id === undefined) continue;
    const w = bag.weights[k];
    const base = id * d;
    for (let j = 0; j < d; j++) out[j] += w * model.embeddings[base + j];
  }
  l2normalizeInPlace(out);
  return out;
}

/**
 * Cosine scores of `text` against the given repositories, in that order.
 * A repository the model was not trained on (added since) is represented by
 * the encoding of its own text, when `fallbackText` gives it; else 0.
 */
export function scoreRepos(
  model: RankingModel,
  text: string,
  repoNames: string[],
  fallbackText?: (i: number) => string,
): Float64Array {
  const d = model.config.dim;
  const q = encode(model, text);
  const out = new Float64Array(repoNames.length);
  const pos = repoPositions(model);
  for (let i = 0; i < repoNames.length; i++) {
    const r = pos.get(repoNames[i]);
    let s = 0;
    if (r !== undefined) {
      const base = r * d;
      for (let j = 0; j < d; j++) s += q[j] * model.repoVectors[base + j];
    } else if (fallbackText) {
      const v = encode(model, fallbackText(i));
      for (let j = 0; j < d; j++) s += q[j] * v[j];
    }
    out[i] = s;
  }
  return out;
}

/**
 * Whether the encoder `encoderId` made the model's repo sentence vectors: only its question vectors are
 * comparable with them (another encoder's space is another space).
 */
export function sentenceVectorsOf(model: RankingModel, encoderId: string): boolean {
  return !!model.sentenceVectors && model.meta.sentence_encoder === encoderId;
}

const positions = new WeakMap<RankingModel, Map<string, number>>();
/** Repo name → its row in the model's repo vectors and sentence vectors (both follow model.repoNames). */
export function repoPositions(model: RankingModel): Map<string, number> {
  let m = positions.get(model);
  if (!m) {
    m = new Map(model.repoNames.map((n, i) => [n, i]));
    positions.set(model, m);
  }
  return m;
}

// ---- artifacts (TF.js ModelArtifacts shape) ----

/** The parts one after another in one buffer. */
export function concatBytes(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Values in [-1, 1] → uint8 (TF.js quantisation min -1, scale 1/127). */
export function quantizeUnit(v: Float32Array): Uint8Array {
  const q = new Uint8Array(v.length);
  for (let i = 0; i < q.length; i++) q[i] = Math.max(0, Math.min(254, Math.round(v[i] * 127) + 127));
  return q;
}

export function dequantizeUnit(q: Uint8Array): Float32Array {
  const v = new Float32Array(q.length);
  for (let i = 0; i < v.length; i++) v[i] = (q[i] - 127) / 127;
  return v;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: "float32";
  /** TF.js weight quantisation: value = min + scale · q (q stored as uint8). */
  quantization?: { dtype: "uint8"; min: number; scale: number };
}

/** The subset of tf.io.ModelArtifacts used here (structurally compatible). */
export interface Artifacts {
  modelTopology: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  userDefinedMetadata?: Record<string, unknown>;
}

function specBytes(s: WeightSpec): number {
  const n = s.shape.reduce((a, b) => a * b, 1);
  return s.quantization ? n : n * 4;
}

export function modelToArtifacts(model: RankingModel): Artifacts {
  const d = model.config.dim;
  const parts: Uint8Array[] = [];
  const specs: WeightSpec[] = [];
  const addF32 = (name: string, shape: number[], data: Float32Array) => {
    specs.push({ name, shape, dtype: "float32" });
    parts.push(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
  };
  /** Values in [-1, 1] stored as uint8 (TF.js quantisation: value = -1 + q / 127). */
  const addUnit8 = (name: string, shape: number[], q: Uint8Array) => {
    specs.push({ name, shape, dtype: "float32", quantization: { dtype: "uint8", min: -1, scale: 1 / 127 } });
    parts.push(q);
  };
  addF32("feature_embeddings", [model.vocab.length, d], model.embeddings);
  addF32("repo_vectors", [model.repoNames.length, d], model.repoVectors);
  const wv = model.wordVectors;
  if (wv && model.projection) {
    addF32("word_projection", [wv.dim, d], model.projection);
    addF32("word_weights", [wv.words.length], wv.weights);
    // int8 → uint8 with TF.js quantisation (min -127/127, scale 1/127)
    const q = new Uint8Array(wv.data.length);
    for (let i = 0; i < q.length; i++) q[i] = wv.data[i] + 127;
    addUnit8("word_vectors", [wv.words.length, wv.dim], q);
  }
  const sv = model.sentenceVectors;
  if (sv && model.sentenceDim) {
    // Unit vectors, so every value is in [-1, 1]: uint8 like the word vectors (cosines change by < 0.01).
    addUnit8("sentence_vectors", [model.repoNames.length, model.sentenceDim], quantizeUnit(sv));
  }
  const buf = concatBytes(parts);
  return {
    modelTopology: {
      format: MODEL_FORMAT,
      version: MODEL_VERSION,
      config: model.config,
      vocab: model.vocab,
      repos: model.repoNames,
      ...(wv && model.projection ? { words: wv.words } : {}),
    },
    weightSpecs: specs,
    weightData: buf.buffer,
    format: MODEL_FORMAT,
    generatedBy: "foliosync train worker",
    userDefinedMetadata: { ...model.meta },
  };
}

export function modelFromArtifacts(a: Artifacts): RankingModel {
  const topo = a.modelTopology as {
    format?: string;
    version?: number;
    config: ModelConfig;
    vocab: string[];
    repos: string[];
    words?: string[];
  };
  if (topo?.format !== MODEL_FORMAT) throw new Error(`not a ${MODEL_FORMAT} model (format ${topo?.format})`);
  const config: ModelConfig = {
    ...DEFAULT_MODEL_CONFIG,
    wordVectorWeight: 0,
    ...(topo.config as Partial<ModelConfig>),
  };
  const d = config.dim;
  const bytes = new Uint8Array(a.weightData);
  const expected = a.weightSpecs.reduce((s, w) => s + specBytes(w), 0);
  if (bytes.byteLength !== expected) throw new Error(`weight data has ${bytes.byteLength} bytes, expected ${expected}`);
  const got = new Map<string, { spec: WeightSpec; off: number }>();
  let off = 0;
  for (const s of a.weightSpecs) {
    got.set(s.name, { spec: s, off });
    off += specBytes(s);
  }
  const f32 = (name: string, n: number): Float32Array => {
    const e = got.get(name);
    if (!e) throw new Error(`model has no weight ${name}`);
    const count = e.spec.shape.reduce((x, y) => x * y, 1);
    if (count !== n) throw new Error(`weight ${name} has ${count} values, expected ${n}`);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset + e.off, bytes.byteOffset + e.off + n * 4));
  };
  const model: RankingModel = {
    config,
    meta: (a.userDefinedMetadata ?? {}) as unknown as ModelMeta,
    vocab: topo.vocab,
    index: buildIndex(topo.vocab),
    embeddings: f32("feature_embeddings", topo.vocab.length * d),
    repoNames: topo.repos,
    repoVectors: f32("repo_vectors", topo.repos.length * d),
    wordVectors: null,
    projection: null,
  };
  const wvEntry = got.get("word_vectors");
  if (topo.words && wvEntry) {
    const wdim = wvEntry.spec.shape[1];
    const n = topo.words.length * wdim;
    const raw = bytes.subarray(wvEntry.off, wvEntry.off + n);
    const data = new Int8Array(n);
    for (let i = 0; i < n; i++) data[i] = raw[i] - 127;
    model.wordVectors = makeWordVectors(topo.words, data, wdim, f32("word_weights", topo.words.length));
    model.projection = f32("word_projection", wdim * d);
  }
  const svEntry = got.get("sentence_vectors");
  if (svEntry) {
    const [rows, sdim] = svEntry.spec.shape;
    if (rows !== topo.repos.length) throw new Error(`sentence_vectors has ${rows} rows, expected ${topo.repos.length}`);
    model.sentenceVectors = dequantizeUnit(bytes.subarray(svEntry.off, svEntry.off + rows * sdim));
    model.sentenceDim = sdim;
  }
  return model;
}
