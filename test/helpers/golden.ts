/**
 * Golden-file comparisons in the style of llm.c's test_gpt2.c: every check reports its max |diff| and the
 * tolerance, and top-k comparisons allow rank swaps only on the near-tie rows a fixture lists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseNpy } from '../../src/util/npy.js';

export function npyF32(path: string): { data: Float32Array; shape: number[] } {
  const a = parseNpy(readFileSync(path));
  if (a.data instanceof Float32Array) return { data: a.data, shape: a.shape };
  if (a.data instanceof Uint8Array) return { data: Float32Array.from(a.data), shape: a.shape };
  throw new Error(`${path}: expected float32 or uint8, got ${a.dtype}`);
}

export function npyInt(path: string): { data: Int32Array; shape: number[] } {
  const a = parseNpy(readFileSync(path));
  if (a.data instanceof BigInt64Array)
    return { data: Int32Array.from(a.data, (v) => Number(v)), shape: a.shape };
  if (a.data instanceof Int32Array) return { data: a.data, shape: a.shape };
  throw new Error(`${path}: expected an integer array, got ${a.dtype}`);
}

export const exists = existsSync;

/** Max |a - b|; asserts equal lengths. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs expected ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
): number {
  const m = maxDiff(got, want, what);
  assert.ok(m <= tol, `${what}: maxdiff ${m.toExponential(2)} > ${tol}`);
  return m;
}

/** Max of |a - b| / max(1, |b|): absolute below magnitude 1, relative above (the fixtures-modern tolerance rule). */
export function scaledDiff(got: ArrayLike<number>, want: ArrayLike<number>, what = 'values'): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} vs expected ${want.length}`);
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Asserts scaledDiff is within `tol` and returns it. */
export function assertCloseScaled(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
): number {
  const m = scaledDiff(got, want, what);
  assert.ok(m <= tol, `${what}: scaled maxdiff ${m.toExponential(2)} > ${tol}`);
  return m;
}

/** assertCloseScaled that also prints the figure (llm.c's test style: every stage says its maxdiff). */
export function checkScaled(
  label: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
): number {
  const d = scaledDiff(got, want, label);
  console.log(`  ${label}: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${label}: maxdiff ${d} > ${tol}`);
  return d;
}

/**
 * Compares top-k rows: ids equal, except that on `tieRows` the id SETS of each row must agree on the entries whose
 * scores are separated from their neighbours; scores within `tol` position by position (with `scaled`,
 * |d| / max(1, |want|): fixtures-modern's "relative past magnitude 1").
 */
export function assertTopK(
  got: { ids: Int32Array; scores: Float32Array; k: number },
  wantIds: Int32Array,
  wantScores: Float32Array,
  wantK: number,
  tokens: number,
  tieRows: ReadonlySet<number>,
  tol: number,
  what: string,
  scaled = false,
): { maxScoreDiff: number; swappedRows: number } {
  const k = Math.min(got.k, wantK);
  let maxScoreDiff = 0;
  let swappedRows = 0;
  for (let t = 0; t < tokens; t++) {
    const g = Array.from(got.ids.subarray(t * got.k, t * got.k + k));
    const w = Array.from(wantIds.subarray(t * wantK, t * wantK + k));
    for (let j = 0; j < k; j++) {
      const want = wantScores[t * wantK + j];
      const d = Math.abs(got.scores[t * got.k + j] - want) / (scaled ? Math.max(1, Math.abs(want)) : 1);
      maxScoreDiff = Math.max(maxScoreDiff, d);
      assert.ok(
        d <= tol,
        `${what}: token ${t} rank ${j} score ${got.scores[t * got.k + j]} vs ${wantScores[t * wantK + j]}`,
      );
    }
    if (g.join() === w.join()) continue;
    assert.ok(
      tieRows.has(t),
      `${what}: token ${t} ids [${g}] vs expected [${w}] (not a listed near-tie row)`,
    );
    // A swap among tied neighbours: every differing position must be within tol of the expected score there.
    for (let j = 0; j < k; j++) {
      if (g[j] === w[j]) continue;
      const pos = w.indexOf(g[j]);
      if (pos >= 0) {
        assert.ok(
          Math.abs(wantScores[t * wantK + pos] - wantScores[t * wantK + j]) <= 1e-5,
          `${what}: token ${t} id ${g[j]} at rank ${j}, expected at rank ${pos} (not a near tie)`,
        );
      } else {
        assert.equal(j, k - 1, `${what}: token ${t} id ${g[j]} at rank ${j} is not in the expected top-${k}`);
      }
    }
    swappedRows++;
  }
  return { maxScoreDiff, swappedRows };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
