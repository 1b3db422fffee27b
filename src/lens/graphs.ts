/**
 * The ONNX graphs of the lens. The large math (T×D by D×V products and top-k over V) runs in onnxruntime,
 * split into three kinds of small graphs so that each vocabulary matrix is held by exactly one session:
 * - project (one per matrix): features [T, D] → X·Eᵀ [T, V]. The matrix is an initializer, so ORT prepacks it
 *   once (about 2x faster than feeding it each run); in-memory bytes above MAX_INITIALIZER_BYTES (protobuf's
 *   2 GiB limit) make it a graph input instead, fed as float32 each run. The embedding's projection also gives
 *   the row norms and OMP's atom rows.
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
import { attr, GraphBuilder, type Value } from '../graph/builder.js';
import type { ExternalData } from '../graph/onnx.js';
import type { DType } from '../source/types.js';
import type { ScoreKind } from '../lens-methods.js';

export type { ScoreKind } from '../lens-methods.js';

/** Names of graph inputs and outputs. */
export const IO = {
  features: 'features', // [tokens, hidden] (residuals for corr)
  matrix: 'matrix', // [vocab, hidden]
  product: 'product', // [tokens, vocab] X·Eᵀ
  sqNorm: 'matrix_sq_norm', // [vocab] |e|² (l2; an output of the projection, an input of the score graph)
  invNorm: 'matrix_inv_norm', // [vocab] 1 / max(|e|, 1e-12) (cosine)
  normWeight: 'norm_weight', // [hidden] (rmsnorm)
  normed: 'normed', // [tokens, hidden] (rmsnorm output)
  bias: 'bias', // [vocab] 0 or -inf
  atoms: 'atoms', // int64 [n] row ids (OMP)
  rows: 'atom_rows', // [n, hidden] those rows of the matrix
  k: 'k', // int64 [1]
  values: 'top_scores', // [tokens, k]
  ids: 'top_ids', // [tokens, k] int64
  gramCoefs: 'gram_coefs', // [tokens, atoms] OMP coefficients over the Gram rows (0 off the support)
  gramRows: 'gram_rows', // [atoms, vocab] E·e_a for the selected atoms
} as const;

/** F.normalize's eps (torch.nn.functional.normalize default). */
export const NORMALIZE_EPS = 1e-12;

/** Matrices larger than this are fed as graph inputs (a ModelProto cannot exceed 2 GiB). */
export const MAX_INITIALIZER_BYTES = 1.5 * 2 ** 30;

/**
 * How a projection graph gets its [V, D] matrix: an initializer as stored in the checkpoint (F32/F16/BF16 bytes
 * in memory, or external data that onnxruntime reads from the safetensors file itself), or a float32 graph
 * input `matrix` fed each run.
 */
export type ProjectMatrix =
  { kind: 'initializer'; data: Uint8Array | ExternalData; dtype: DType } | { kind: 'input' };

/**
 * features [T, D] → X·Eᵀ [T, V] for one [V, D] matrix E = scale · stored matrix. An initializer is stored as
 * the checkpoint stores it and cast (and scaled) in-graph: onnxruntime folds that once at session creation and
 * pre-packs the result for Gemm, so neither JS nor onnxruntime keeps a separate fp32 copy (llava-1.5-7b: the
 * JS fp32 copies of embed_tokens and lm_head, 2 x 525 MB, are gone).
 *
 * With `atoms`, the graph also serves the embedding measures and OMP from the same session (the matrix is
 * held once):
 * - `matrix_sq_norm` [V] = |e|², folded to a constant at session creation (in input mode: computed each run);
 * - input `atoms` (int64 [n]) → `atom_rows` [n, D], the rows OMP needs, gathered from the stored matrix.
 */
export function buildProjectGraph(
  name: string,
  vocab: number,
  hidden: number,
  matrix: ProjectMatrix,
  opts: { scale?: number; atoms?: boolean } = {},
): Uint8Array {
  const scale = opts.scale ?? 1;
  const g = new GraphBuilder({ name: `lens.project.${name}` });
  const x = g.input(IO.features, 'float32', ['tokens', hidden]); // [T, D]
  const stored =
    matrix.kind === 'initializer'
      ? g.initializer(`lens.${name}`, matrix.data, matrix.dtype, [vocab, hidden], { castTo: null })
      : g.input(IO.matrix, 'float32', [vocab, hidden]); // [V, D] as stored
  const toF32 = (v: Value, n: string): Value => {
    const f = v.type === 'float32' ? v : g.cast(v, 'float32', `${n}.f32`);
    return scale === 1 ? f : g.mul(f, scale, `${n}.scaled`);
  };
  const e = toF32(stored, `lens.${name}`); // [V, D] float32
  g.output(g.gemm(x, e, null, { transB: true, name: IO.product })); // [T, V]
  if (opts.atoms) {
    const sq = g.reduce('ReduceSumSquare', e, [1], { keepdims: false, name: 'lens.sq_norm' }); // [V]
    // Exposed through an Identity (output() adds one for the new name): onnxruntime does not constant-fold a
    // node that produces a graph output, so this way the reduction is folded and a run only copies [V] floats.
    g.output(sq, IO.sqNorm); // [V]
    const atoms = g.input(IO.atoms, 'int64', ['atoms']); // [n]
    const rows = g.op('Gather', [stored, atoms], { axis: attr.int(0) }, { name: 'lens.atoms' })[0]; // [n, D]
    g.output(toF32(rows, 'lens.atoms'), IO.rows); // [n, D]
  }
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

/**
 * Batch-OMP's correlations (src/lens/omp.ts): |α⁰ - C·G| + bias → TopK(k), with α⁰ = X·Eᵀ [T, V] (input
 * `product`), C [T, U] each token's coefficients over the U Gram rows G [U, V] (zero off its support).
 */
export function buildGramCorrGraph(vocab: number): Uint8Array {
  const g = new GraphBuilder({ name: 'lens.score.gramcorr' });
  const alpha0 = g.input(IO.product, 'float32', ['tokens', vocab]); // [T, V]
  const coefs = g.input(IO.gramCoefs, 'float32', ['tokens', 'atoms']); // [T, U]
  const rows = g.input(IO.gramRows, 'float32', ['atoms', vocab]); // [U, V]
  const bias = g.input(IO.bias, 'float32', [vocab]); // [V]
  const k = g.input(IO.k, 'int64', [1]);
  const corr = g.sub(alpha0, g.matmul(coefs, rows, 'lens.gram.explained'), 'lens.gram.corr'); // [T, V]
  const top = g.topK(g.add(g.abs(corr, 'lens.gram.corr_abs'), bias, 'lens.scores'), k, { name: 'lens.top' });
  g.output(top.values, IO.values);
  g.output(top.indices, IO.ids);
  return g.build();
}
