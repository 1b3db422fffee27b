/**
 * Orthogonal matching pursuit over the vocabulary, as the original tool's `batch_omp`
 * (pifanpi/visualizing-vlm-tokens @ 7cfa832e8e4e585c490c33d364d46bbfed866a10, similarvec.py; algorithm only).
 *
 * For each token x (a row of the features) and k atoms:
 *   residual r = x; support S = {}
 *   repeat k times:
 *     a = argmax_v |e_v · r|                       (one R·Eᵀ product for all tokens, in onnxruntime)
 *     omp:  S += a; γ = argmin |x - E_Sᵀ γ|         (least squares over the whole support)
 *     ompp: c_a = (e_a · r) / (e_a · e_a)           (refit ONLY the newest atom, on the residual)
 *     r = x - Σ_{s∈S} γ_s e_s
 * and the result is the support with its coefficients, sorted by coefficient (signed) descending.
 *
 * What the original does, and what we keep or change:
 * - `omp` solves `torch.linalg.lstsq(vocab[S].T, x)`; we solve the same normal equations G γ = E_S x with a
 *   Cholesky factor of the k×k Gram matrix G = E_S E_Sᵀ that grows by one row per step, in float64.
 *   The original can pick an already-selected atom again only when the residual is numerically zero; we
 *   skip selected atoms instead (TopK(i+1) always holds one unselected atom), and skip an atom that is
 *   linearly dependent on the support.
 * - `ompp` (the original's `pos_only=True`) ASSIGNS `X[a] = c_a`: an atom picked a second time gets the new
 *   single-atom coefficient in place of its old one (it is not accumulated), and the residual is recomputed
 *   from all current coefficients. So ompp is matching pursuit without refitting, with that overwrite quirk,
 *   and can return fewer than k distinct atoms. We mirror it exactly.
 * - The original returns the dense [tokens, vocab] coefficient matrix, and the tool then takes topk(k) of it,
 *   which fills rows with 0-coefficient ids. We return only the non-zero coefficients; shorter rows are padded
 *   with id -1 and score 0 (the fixtures' omp_sparse_* convention).
 */

/** The correlation step: for residuals R [tokens, hidden], the top `k` ids of |R·Eᵀ| + bias per row. */
export type Correlate = (residuals: Float32Array, tokens: number, k: number) => Promise<Int32Array>;

export interface OmpInput {
  features: Float32Array; // [tokens, hidden]
  tokens: number;
  hidden: number;
  matrix: Float32Array; // [vocab, hidden], the atoms
  sqNorm: Float32Array; // [vocab], |e|²
  k: number;
  /** true: the original's pos_only variant (ompp). */
  newestOnly: boolean;
  correlate: Correlate;
  /** Called after each of the k steps. */
  onStep?: (step: number, of: number) => void;
}

export interface OmpResult {
  ids: Int32Array; // [tokens, k], -1 padded
  coefs: Float32Array; // [tokens, k], 0 padded
}

function dotRows(m: Float32Array, a: number, b: number, d: number): number {
  let s = 0;
  const oa = a * d;
  const ob = b * d;
  for (let j = 0; j < d; j++) s += m[oa + j] * m[ob + j];
  return s;
}

function dotRowVec(m: Float32Array, a: number, v: Float32Array, vOff: number, d: number): number {
  let s = 0;
  const oa = a * d;
  for (let j = 0; j < d; j++) s += m[oa + j] * v[vOff + j];
  return s;
}

/** One token's OMP state: support, Cholesky factor of its Gram matrix (row-major, k×k), E_S·x. */
class OmpToken {
  readonly support: number[] = [];
  readonly tried = new Set<number>();
  readonly chol: Float64Array;
  readonly rhs: number[] = [];
  coefs: Float64Array = new Float64Array(0);

  constructor(private readonly k: number) {
    this.chol = new Float64Array(k * k);
  }

  /** Adds atom `a` (Cholesky update); false when it is linearly dependent on the support. */
  add(a: number, m: Float32Array, x: Float32Array, xOff: number, d: number, sqNormA: number): boolean {
    this.tried.add(a);
    const n = this.support.length;
    const L = this.chol;
    const k = this.k;
    // Solve L w = E_S e_a (forward substitution); then the new diagonal is sqrt(|e_a|² - |w|²).
    const w = new Float64Array(n);
    let ww = 0;
    for (let i = 0; i < n; i++) {
      let s = dotRows(m, this.support[i], a, d);
      for (let j = 0; j < i; j++) s -= L[i * k + j] * w[j];
      w[i] = s / L[i * k + i];
      ww += w[i] * w[i];
    }
    const diag2 = sqNormA - ww;
    if (!(diag2 > 1e-10 * sqNormA)) return false;
    for (let j = 0; j < n; j++) L[n * k + j] = w[j];
    L[n * k + n] = Math.sqrt(diag2);
    this.support.push(a);
    this.rhs.push(dotRowVec(m, a, x, xOff, d));
    // Solve L Lᵀ γ = rhs.
    const m1 = n + 1;
    const y = new Float64Array(m1);
    for (let i = 0; i < m1; i++) {
      let s = this.rhs[i];
      for (let j = 0; j < i; j++) s -= L[i * k + j] * y[j];
      y[i] = s / L[i * k + i];
    }
    const g = new Float64Array(m1);
    for (let i = m1 - 1; i >= 0; i--) {
      let s = y[i];
      for (let j = i + 1; j < m1; j++) s -= L[j * k + i] * g[j];
      g[i] = s / L[i * k + i];
    }
    this.coefs = g;
    return true;
  }
}

/** Runs OMP (or ompp) for every token; k correlation products in all. */
export async function runOmp(inp: OmpInput): Promise<OmpResult> {
  const { features: x, tokens: T, hidden: D, matrix: E, sqNorm, k } = inp;
  const residual = Float32Array.from(x); // [T, D]
  const states = Array.from({ length: T }, () => new OmpToken(k));
  // ompp: atom -> coefficient, in first-selection order (Map keeps insertion order).
  const mp = Array.from({ length: T }, () => new Map<number, number>());
  const acc = new Float64Array(D);

  for (let step = 0; step < k; step++) {
    // omp needs one unselected atom among the top (step + 1); ompp takes the best atom, selected or not.
    const width = inp.newestOnly ? 1 : step + 1;
    const top = await inp.correlate(residual, T, width); // [T, width]
    for (let t = 0; t < T; t++) {
      const xOff = t * D;
      if (inp.newestOnly) {
        const a = top[t * width];
        if (a < 0) continue;
        const c = dotRowVec(E, a, residual, xOff, D) / sqNorm[a];
        if (!Number.isFinite(c)) continue;
        mp[t].set(a, c);
        acc.fill(0);
        for (const [s, cs] of mp[t]) {
          const o = s * D;
          for (let j = 0; j < D; j++) acc[j] += cs * E[o + j];
        }
      } else {
        const st = states[t];
        let a = -1;
        for (let i = 0; i < width; i++) {
          const cand = top[t * width + i];
          if (cand >= 0 && !st.tried.has(cand)) {
            a = cand;
            break;
          }
        }
        if (a < 0 || !st.add(a, E, x, xOff, D, sqNorm[a])) continue;
        acc.fill(0);
        st.support.forEach((s, i) => {
          const cs = st.coefs[i];
          const o = s * D;
          for (let j = 0; j < D; j++) acc[j] += cs * E[o + j];
        });
      }
      for (let j = 0; j < D; j++) residual[xOff + j] = x[xOff + j] - acc[j];
    }
    inp.onStep?.(step + 1, k);
  }

  const ids = new Int32Array(T * k).fill(-1);
  const coefs = new Float32Array(T * k);
  for (let t = 0; t < T; t++) {
    const pairs: Array<[number, number]> = inp.newestOnly
      ? [...mp[t]]
      : states[t].support.map((s, i): [number, number] => [s, states[t].coefs[i]]);
    const kept = pairs.filter(([, c]) => c !== 0).sort((p, q) => q[1] - p[1] || p[0] - q[0]);
    kept.forEach(([id, c], i) => {
      ids[t * k + i] = id;
      coefs[t * k + i] = c;
    });
  }
  return { ids, coefs };
}
