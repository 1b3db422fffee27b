/**
 * The ONNX graphs of the lens: one small graph per measure, each a product of the image features with a
 * vocabulary matrix followed by TopK, so the large math (T×D by D×V) runs in onnxruntime.
 *
 * The vocabulary matrix [V, D] is a graph INPUT, not an initializer: the graphs hold no weights, every
 * measure's session shares the one Float32Array the caller loaded, and ORT's Gemm reads it transposed
 * (transB) without a copy. Per-row constants (|e|², 1/|e|) are inputs too, computed once per model in JS.
 * `bias` [V] is 0 for kept rows and -inf for excluded ones, added before TopK so excluded rows never rank.
 *
 * The measures mirror `similarvec.py` of pifanpi/visualizing-vlm-tokens @ 7cfa832e8e4e585c490c33d364d46bbfed866a10
 * (SimilarityEngine.similarity_matrix) and HF transformers v4.45.1 LlamaRMSNorm for the logit lens:
 * - dot:    X·Eᵀ
 * - cosine: F.normalize(X)·F.normalize(E)ᵀ, computed as (X·Eᵀ) / max(|x|, 1e-12) · 1/max(|e|, 1e-12)
 * - l2:     -sqrt(clamp(|x|² + |e|² - 2 X·Eᵀ, 0)) / sqrt(D)   (the tool's expanded form)
 * - normed-dot (logit): (w ⊙ x / sqrt(mean(x²) + eps))·Wᵀ, with w = norm weight (already 1 + w for Gemma-style norms)
 * - corr:   |R·Eᵀ| for OMP's atom selection on residuals R
 */
import { GraphBuilder, type Value } from '../graph/builder.js';

/**
 * The graphs the lens builds: `dot` serves dot and logit-raw (over the lm_head matrix), `normed-dot` is the
 * logit lens, `corr` is OMP's correlation step.
 */
export type LensGraphKind = 'dot' | 'cosine' | 'l2' | 'normed-dot' | 'corr';

/** Names of graph inputs and outputs. */
export const IO = {
  features: 'features', // [tokens, hidden] (residuals for corr)
  matrix: 'matrix', // [vocab, hidden]
  sqNorm: 'matrix_sq_norm', // [vocab] |e|² (l2)
  invNorm: 'matrix_inv_norm', // [vocab] 1 / max(|e|, 1e-12) (cosine)
  normWeight: 'norm_weight', // [hidden] (normed-dot)
  bias: 'bias', // [vocab] 0 or -inf
  k: 'k', // int64 [1]
  values: 'top_scores', // [tokens, k]
  ids: 'top_ids', // [tokens, k] int64
} as const;

/** F.normalize's eps (torch.nn.functional.normalize default). */
export const NORMALIZE_EPS = 1e-12;

/**
 * Builds the graph for one measure over a [vocab, hidden] matrix. `rmsEps` is used by `normed-dot` only.
 * Inputs: features, matrix, bias, k, plus the per-row constants the measure needs.
 */
export function buildLensGraph(
  kind: LensGraphKind,
  vocab: number,
  hidden: number,
  rmsEps: number,
): Uint8Array {
  const g = new GraphBuilder({ name: `lens.${kind}` });
  let x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
  const e = g.input(IO.matrix, 'float32', [vocab, hidden]); // [V, D]
  const bias = g.input(IO.bias, 'float32', [vocab]); // [V]
  const k = g.input(IO.k, 'int64', [1]);

  if (kind === 'normed-dot') {
    // LlamaRMSNorm: w * (x * rsqrt(mean(x², -1) + eps)).
    const w = g.input(IO.normWeight, 'float32', [hidden]); // [D]
    const ms = g.reduce('ReduceMean', g.mul(x, x), [1], { keepdims: true, name: 'lens.rms.mean_sq' }); // [T, 1]
    const inv = g.div(1, g.sqrt(g.add(ms, rmsEps)), 'lens.rms.inv'); // [T, 1]
    x = g.mul(w, g.mul(x, inv), 'lens.rms.out'); // [T, D]
  }

  const dot = g.gemm(x, e, null, { transB: true, name: 'lens.dot' }); // [T, V]
  let scores: Value;
  switch (kind) {
    case 'dot':
    case 'normed-dot':
      scores = dot;
      break;
    case 'cosine': {
      const invE = g.input(IO.invNorm, 'float32', [vocab]); // [V]
      const xNorm = g.sqrt(g.reduce('ReduceSumSquare', x, [1], { keepdims: true }), 'lens.x_norm'); // [T, 1]
      scores = g.mul(g.div(dot, g.max(xNorm, NORMALIZE_EPS)), invE, 'lens.cosine'); // [T, V]
      break;
    }
    case 'l2': {
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
