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
 *
 * The Gram-matrix shortcut of Batch-OMP (R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient Implementation of
 * the K-SVD Algorithm using Batch Orthogonal Matching Pursuit", Technion CS-2008-08, algorithm 3; algorithm
 * only): E·r = E·x - E·E_Sᵀ γ = α⁰ - G_S γ, so the correlations of every step come from α⁰ = X·Eᵀ (one
 * product, kept) and the Gram rows G[s] = E·e_s of the atoms selected so far, instead of one R·Eᵀ product per
 * step. A Gram row is shared by every token that selects its atom, so the products cost one pass over the
 * vocabulary for α⁰ plus one row per distinct atom (U rows, U ≤ tokens · (k - 1)); each step's update
 * α⁰ - C·G (C: the tokens' coefficients over the U rows) is a [T, U]·[U, V] product, in onnxruntime like the
 * others. The paper keeps all of G (vocab² entries: 4 GB for a 32k
 * vocabulary); we keep only the selected atoms' rows, within `gramBudgetBytes`; past it (images whose tokens
 * share few atoms), the remaining steps fall back to residual products (the path above), which give the same
 * atoms. The selection, the Cholesky solves and the coefficients are the same as the residual path's.
 */

/** The correlation step: for residuals R [tokens, hidden], the top `k` ids of |R·Eᵀ| + bias per row. */
export type Correlate = (residuals: Float32Array, tokens: number, k: number) => Promise<Int32Array>;

/**
 * Rows `ids` of the matrix, [ids.length, hidden] row-major. OMP reads only its selected atoms (at most
 * tokens x k rows), so the Lens fetches them from onnxruntime instead of keeping an fp32 matrix in JS.
 */
export type FetchRows = (ids: readonly number[]) => Promise<Float32Array>;

export interface OmpInput {
  features: Float32Array; // [tokens, hidden]
  tokens: number;
  hidden: number;
  /** The atoms: rows of the [vocab, hidden] matrix, fetched as they are selected. */
  rows: FetchRows;
  k: number;
  /** true: the original's pos_only variant (ompp). */
  newestOnly: boolean;
  correlate: Correlate;
  /** Called after each of the k steps. */
  onStep?: (step: number, of: number) => void;
  /**
   * The Gram-matrix shortcut (omp only, not ompp): rows [n, hidden] → their products with every vocabulary row,
   * [n, vocab]. Without it every step is a residual product (`correlate`).
   */
  gram?: {
    project: (rows: Float32Array, n: number) => Promise<Float32Array>;
    /**
     * The top `width` ids per token of |α⁰ - C·G| + bias: α⁰ [T, V], C [T, U] (coefficients over the Gram
     * rows, 0 off each token's support), G [U, V].
     */
    correlate: (
      alpha0: Float32Array,
      coefs: Float32Array,
      rows: Float32Array,
      tokens: number,
      atoms: number,
      width: number,
    ) => Promise<Int32Array>;
    vocab: number;
    /** Memory for α⁰ and the Gram rows, in bytes (default GRAM_BUDGET_BYTES). */
    budgetBytes?: number;
  };
}

/** Default memory for Batch-OMP's α⁰ and Gram rows: 576 tokens' α⁰ (74 MB) plus 2000 rows of a 32k vocabulary. */
export const GRAM_BUDGET_BYTES = 336 * 2 ** 20;

export interface OmpResult {
  ids: Int32Array; // [tokens, k], -1 padded
  coefs: Float32Array; // [tokens, k], 0 padded
}

/** A selected atom: its row and |e|² (summed in float64, stored as float32 like the row norms). */
interface Atom {
  row: Float32Array; // [hidden]
  sqNorm: number;
}

function dot(a: Float32Array, v: Float32Array, vOff: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[j] * v[vOff + j];
  return s;
}

/** Fetches the rows of `ids` not yet in `atoms` (one onnxruntime run per step). */
async function fetchAtoms(atoms: Map<number, Atom>, ids: Iterable<number>, fetch: FetchRows, d: number) {
  const missing = [...new Set(ids)].filter((a) => a >= 0 && !atoms.has(a));
  if (missing.length === 0) return;
  const rows = await fetch(missing); // [missing, D]
  missing.forEach((a, i) => {
    const row = rows.subarray(i * d, (i + 1) * d);
    atoms.set(a, { row, sqNorm: Math.fround(dot(row, row, 0, d)) });
  });
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
  add(a: number, atoms: ReadonlyMap<number, Atom>, x: Float32Array, xOff: number, d: number): boolean {
    this.tried.add(a);
    const n = this.support.length;
    const L = this.chol;
    const k = this.k;
    // Solve L w = E_S e_a (forward substitution); then the new diagonal is sqrt(|e_a|² - |w|²).
    const w = new Float64Array(n);
    let ww = 0;
    for (let i = 0; i < n; i++) {
      let s = dot(atoms.get(this.support[i])!.row, atoms.get(a)!.row, 0, d);
      for (let j = 0; j < i; j++) s -= L[i * k + j] * w[j];
      w[i] = s / L[i * k + i];
      ww += w[i] * w[i];
    }
    const sqNormA = atoms.get(a)!.sqNorm;
    const diag2 = sqNormA - ww;
    if (!(diag2 > 1e-10 * sqNormA)) return false;
    for (let j = 0; j < n; j++) L[n * k + j] = w[j];
    L[n * k + n] = Math.sqrt(diag2);
    this.support.push(a);
    this.rhs.push(dot(atoms.get(a)!.row, x, xOff, d));
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

/** r = x - E_Sᵀ γ for token `t` (omp), written into `residual`. */
function updateResidual(
  st: OmpToken,
  atoms: ReadonlyMap<number, Atom>,
  x: Float32Array,
  residual: Float32Array,
  xOff: number,
  d: number,
  acc: Float64Array,
): void {
  acc.fill(0);
  st.support.forEach((s, i) => {
    const cs = st.coefs[i];
    const e = atoms.get(s)!.row;
    for (let j = 0; j < d; j++) acc[j] += cs * e[j];
  });
  for (let j = 0; j < d; j++) residual[xOff + j] = x[xOff + j] - acc[j];
}

/** Top `width` ids per token of the candidates: [T, width] (as Correlate). */
function pickUntried(top: Int32Array, width: number, states: readonly OmpToken[]): Int32Array {
  const pick = new Int32Array(states.length).fill(-1);
  states.forEach((st, t) => {
    for (let i = 0; i < width; i++) {
      const cand = top[t * width + i];
      if (cand >= 0 && !st.tried.has(cand)) {
        pick[t] = cand;
        break;
      }
    }
  });
  return pick;
}

/**
 * Batch-OMP's steps while the Gram rows fit the budget (see the header): candidates from |α⁰ - G_S γ| (in
 * onnxruntime), the same selection and solves as the residual path. Returns the first step not done (k when
 * all were).
 */
async function gramSteps(
  inp: OmpInput,
  gram: NonNullable<OmpInput['gram']>,
  states: OmpToken[],
  atoms: Map<number, Atom>,
): Promise<number> {
  const { features: x, tokens: T, hidden: D, k } = inp;
  const V = gram.vocab;
  const budget = gram.budgetBytes ?? GRAM_BUDGET_BYTES;
  if (T * V * 4 > budget) return 0;
  const alpha0 = await gram.project(x, T); // [T, V] X·Eᵀ
  const rowOf = new Map<number, number>(); // atom -> its row in `rows`
  let rows = new Float32Array(0); // [U, V] Gram rows E·e_a
  for (let step = 0; step < k; step++) {
    const width = step + 1; // one untried atom is always among the top (step + 1)
    const U = rowOf.size;
    const coefs = new Float32Array(T * U); // [T, U]
    states.forEach((st, t) => st.support.forEach((a, i) => (coefs[t * U + rowOf.get(a)!] = st.coefs[i])));
    const top = await gram.correlate(alpha0, coefs, rows, T, U, width);
    const pick = pickUntried(top, width, states);
    await fetchAtoms(atoms, pick, inp.rows, D);
    for (let t = 0; t < T; t++) if (pick[t] >= 0) states[t].add(pick[t], atoms, x, t * D, D);
    inp.onStep?.(step + 1, k);
    if (step === k - 1) break;
    // Gram rows of the atoms now in some support (the next step's correlations need them).
    const need = [...new Set(states.flatMap((st) => st.support))].filter((a) => !rowOf.has(a));
    const grown = U + need.length;
    if ((T + grown) * V * 4 > budget) return step + 1;
    if (need.length > 0) {
      const e = new Float32Array(need.length * D); // [n, D]
      need.forEach((a, i) => e.set(atoms.get(a)!.row, i * D));
      const g = await gram.project(e, need.length); // [n, V]
      const next = new Float32Array(grown * V);
      next.set(rows);
      next.set(g, U * V);
      rows = next;
      need.forEach((a, i) => rowOf.set(a, U + i));
    }
  }
  return k;
}

/**
 * Runs OMP (or ompp) for every token. With `gram` (omp): one product for α⁰ plus Gram rows (Batch-OMP);
 * otherwise, or past the Gram budget, one residual product per step.
 */
export async function runOmp(inp: OmpInput): Promise<OmpResult> {
  const { features: x, tokens: T, hidden: D, k } = inp;
  const atoms = new Map<number, Atom>();
  const states = Array.from({ length: T }, () => new OmpToken(k));
  // ompp: atom -> coefficient, in first-selection order (Map keeps insertion order).
  const mp = Array.from({ length: T }, () => new Map<number, number>());
  const acc = new Float64Array(D);
  const first = !inp.newestOnly && inp.gram ? await gramSteps(inp, inp.gram, states, atoms) : 0;
  const residual = Float32Array.from(x); // [T, D]
  if (first > 0) for (let t = 0; t < T; t++) updateResidual(states[t], atoms, x, residual, t * D, D, acc);

  for (let step = first; step < k; step++) {
    // omp needs one unselected atom among the top (step + 1); ompp takes the best atom, selected or not.
    const width = inp.newestOnly ? 1 : step + 1;
    const top = await inp.correlate(residual, T, width); // [T, width]
    // Each token's candidate atom: ompp takes the best one, omp the best not yet tried.
    const pick = inp.newestOnly ? top : pickUntried(top, width, states);
    await fetchAtoms(atoms, pick, inp.rows, D);
    for (let t = 0; t < T; t++) {
      const xOff = t * D;
      const a = pick[t];
      if (a < 0) continue;
      if (inp.newestOnly) {
        const c = dot(atoms.get(a)!.row, residual, xOff, D) / atoms.get(a)!.sqNorm;
        if (!Number.isFinite(c)) continue;
        mp[t].set(a, c);
        acc.fill(0);
        for (const [s, cs] of mp[t]) {
          const e = atoms.get(s)!.row;
          for (let j = 0; j < D; j++) acc[j] += cs * e[j];
        }
      } else {
        const st = states[t];
        if (!st.add(a, atoms, x, xOff, D)) continue;
        updateResidual(st, atoms, x, residual, xOff, D, acc);
        continue;
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
