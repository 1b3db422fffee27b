/**
 * The ONNX graphs of the lens. The large math (T×D by D×V products and top-k over V) runs in onnxruntime,
 * split into three kinds of small graphs so that each vocabulary matrix is held by exactly one session:
 * - project (one per matrix): features [T, D] → X·Eᵀ [T, V]. The matrix is an initializer, so ORT prepacks it
 *   once (about 2x faster than feeding it each run); above MAX_INITIALIZER_BYTES (protobuf's 2 GiB limit, e.g.
 *   Gemma's 256k vocabulary) it is a graph input instead, fed from the caller's Float32Array without a copy.
 * - score (one per measure, no weights): X·Eᵀ plus per-row constants → scores → + bias → TopK.
 *   `bias` [V] is 0 for kept rows and -inf for excluded ones, so excluded rows never rank.
 * - rmsnorm (no weights but the [D] norm weight): the final norm of the logit lens.
 *
 * The measures mirror `similarvec.py` of pifanpi/visualizing-vlm-tokens @ 7cfa832e8e4e585c490c33d364d46bbfed866a10
 * (SimilarityEngine.similarity_matrix) and HF transformers v4.45.1 LlamaRMSNorm for the logit lens:
 * - dot:    X·Eᵀ (also logit-raw, over lm_head)
 * - cosine: F.normalize(X)·F.normalize(E)ᵀ, computed as (X·Eᵀ) / max(|x|, 1e-12) · 1/max(|e|, 1e-12)
 * - l2:     -sqrt(clamp(|x|² + |e|² - 2 X·Eᵀ, 0)) / sqrt(D)   (the tool's expanded form)
 * - logit:  (w ⊙ x / sqrt(mean(x²) + eps))·Wᵀ, with w = norm weight (already 1 + w for Gemma-style norms)
 * - corr:   |R·Eᵀ| for OMP's atom selection on residuals R
 */
import { GraphBuilder, type Value } from '../graph/builder.js';

/** The score graphs: `corr` is OMP's correlation step; `dot` also serves logit and logit-raw. */
export type ScoreKind = 'dot' | 'cosine' | 'l2' | 'corr';

/** Names of graph inputs and outputs. */
export const IO = {
  features: 'features', // [tokens, hidden] (residuals for corr)
  matrix: 'matrix', // [vocab, hidden]
  product: 'product', // [tokens, vocab] X·Eᵀ
  sqNorm: 'matrix_sq_norm', // [vocab] |e|² (l2)
  invNorm: 'matrix_inv_norm', // [vocab] 1 / max(|e|, 1e-12) (cosine)
  normWeight: 'norm_weight', // [hidden] (rmsnorm)
  normed: 'normed', // [tokens, hidden] (rmsnorm output)
  bias: 'bias', // [vocab] 0 or -inf
  k: 'k', // int64 [1]
  values: 'top_scores', // [tokens, k]
  ids: 'top_ids', // [tokens, k] int64
} as const;

/** F.normalize's eps (torch.nn.functional.normalize default). */
export const NORMALIZE_EPS = 1e-12;

/** Matrices larger than this are fed as graph inputs (a ModelProto cannot exceed 2 GiB). */
export const MAX_INITIALIZER_BYTES = 1.5 * 2 ** 30;

/**
 * features [T, D] → X·Eᵀ [T, V] for one [V, D] matrix. With `matrix` given it becomes an initializer
 * (referenced, copied once into the model bytes); with null the graph takes it as input `matrix`.
 */
export function buildProjectGraph(
  name: string,
  vocab: number,
  hidden: number,
  matrix: Float32Array | null,
): Uint8Array {
  const g = new GraphBuilder({ name: `lens.project.${name}` });
  const x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
  const e = matrix
    ? g.initFloat32(`lens.${name}`, matrix, [vocab, hidden])
    : g.input(IO.matrix, 'float32', [vocab, hidden]); // [V, D]
  g.output(g.gemm(x, e, null, { transB: true, name: IO.product })); // [T, V]
  return g.build();
}

/** The logit lens's final norm: w * (x * rsqrt(mean(x², -1) + eps)) (LlamaRMSNorm), [T, D] → [T, D]. */
export function buildRmsNormGraph(hidden: number, eps: number): Uint8Array {
  const g = new GraphBuilder({ name: 'lens.rmsnorm' });
  const x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
  const w = g.input(IO.normWeight, 'float32', [hidden]); // [D]
  const ms = g.reduce('ReduceMean', g.mul(x, x), [1], { keepdims: true, name: 'lens.rms.mean_sq' }); // [T, 1]
  const inv = g.div(1, g.sqrt(g.add(ms, eps)), 'lens.rms.inv'); // [T, 1]
  g.output(g.mul(w, g.mul(x, inv)), IO.normed); // [T, D]
  return g.build();
}

/**
 * X·Eᵀ [T, V] → scores of one measure → + bias → TopK(k). Inputs: product, bias, k, and for cosine and l2
 * the features [T, D] and the per-row constants.
 */
export function buildScoreGraph(kind: ScoreKind, vocab: number, hidden: number): Uint8Array {
  const g = new GraphBuilder({ name: `lens.score.${kind}` });
  const dot = g.input(IO.product, 'float32', ['tokens', vocab]); // [T, V]
  const bias = g.input(IO.bias, 'float32', [vocab]); // [V]
  const k = g.input(IO.k, 'int64', [1]);
  let scores: Value;
  switch (kind) {
    case 'dot':
      scores = dot;
      break;
    case 'cosine': {
      const x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
      const invE = g.input(IO.invNorm, 'float32', [vocab]); // [V]
      const xNorm = g.sqrt(g.reduce('ReduceSumSquare', x, [1], { keepdims: true }), 'lens.x_norm'); // [T, 1]
      scores = g.mul(g.div(dot, g.max(xNorm, NORMALIZE_EPS)), invE, 'lens.cosine'); // [T, V]
      break;
    }
    case 'l2': {
      const x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
      const sqE = g.input(IO.sqNorm, 'float32', [vocab]); // [V]
      const sqX = g.reduce('ReduceSumSquare', x, [1], { keepdims: true, name: 'lens.x_sq_norm' }); // [T, 1]
      const d2 = g.sub(g.add(sqX, sqE), g.mul(dot, 2), 'lens.l2.d2'); // [T, V]
      scores = g.div(g.neg(g.sqrt(g.max(d2, 0))), Math.sqrt(hidden), 'lens.l2'); // [T, V]
      break;
    }
    case 'corr':
      scores = g.abs(dot, 'lens.corr_abs');
      break;
  }
  const top = g.topK(g.add(scores, bias, 'lens.scores'), k, { name: 'lens.top' });
  g.output(top.values, IO.values);
  g.output(top.indices, IO.ids);
  return g.build();
}
