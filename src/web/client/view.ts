/**
 * Pure helpers for the page (no DOM): which tokens a view shows, readable word labels, the heat-map colour
 * ramp, score normalisation for the bar chart, and arrow-key movement between patches. Shared by the result viewer
 * (client/result-view.ts, which the page and the HTML export both mount), the page (client/app.ts), the
 * client-side downloads (client/export.ts) and the unit tests in test/web/.
 */
import type { ResultJson, ViewName } from '../../types.js';

export type ResultToken = ResultJson['tokens'][number];

/** Patch tokens of one view that cover part of the image (cls and newline tokens have no box). */
export function patchTokens(result: ResultJson, view: ViewName): ResultToken[] {
  return result.tokens.filter((t) => t.view === view && t.kind === 'patch' && t.box !== null);
}

/** Views that have patch tokens in this result, in the result's order. */
export function availableViews(result: ResultJson): ViewName[] {
  return result.views
    .map((v) => v.name)
    .filter((v) => result.tokens.some((t) => t.view === v && t.box !== null));
}

// The one word-display rule every output shares (served to the page as /vocab/word.js).
export { displayWordOrEmpty as displayWord } from '../../vocab/word.js';

/** min and max of every token's top-1 score: the heat-map's range. */
export function topScoreRange(tokens: readonly ResultToken[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const t of tokens) {
    const s = t.top[0]?.score;
    if (s === undefined || !Number.isFinite(s)) continue;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  return Number.isFinite(min) ? { min, max } : { min: 0, max: 1 };
}

/** Where `value` lies in [min, max], clamped to [0, 1]; 1 when the range is empty. */
export function unit(value: number, min: number, max: number): number {
  if (!(max > min)) return 1;
  return Math.min(1, Math.max(0, (value - min) / (max - min)));
}

// Magma colour map, 6 stops (matplotlib's `magma`, sampled at 0, .2, .4, .6, .8, 1).
const MAGMA: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 4],
  [59, 15, 112],
  [140, 41, 129],
  [222, 73, 104],
  [254, 159, 109],
  [252, 253, 191],
];

/** Magma colour for t in [0, 1], as [r, g, b]. */
export function heatRgb(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (MAGMA.length - 1);
  const i = Math.min(MAGMA.length - 2, Math.floor(x));
  const f = x - i;
  const a = MAGMA[i];
  const b = MAGMA[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

export function heatCss(t: number, alpha: number): string {
  const [r, g, b] = heatRgb(t);
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** Bar lengths in [0, 1] for one token's top-k: relative to the range of all scores in the result. */
export function barLengths(scores: readonly number[], range: { min: number; max: number }): number[] {
  return scores.map((s) => Math.max(0.02, unit(s, range.min, range.max)));
}

/** min and max over every shown score (all tokens, all ranks), so bars compare across patches. */
export function scoreRange(tokens: readonly ResultToken[]): { min: number; max: number } {
  return rangeOfScores(tokens.flatMap((t) => t.top.map((w) => w.score)));
}

/** As scoreRange, over plain scores. */
export function rangeOfScores(scores: readonly number[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const s of scores) {
    if (!Number.isFinite(s)) continue;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  if (!Number.isFinite(min)) return { min: 0, max: 1 };
  // Keep a little of the smallest bar visible, and anchor at 0 when all scores are positive.
  return { min: min >= 0 ? 0 : min - (max - min) * 0.05, max };
}

export type Move = 'left' | 'right' | 'up' | 'down' | 'home' | 'end';

/** The index in `tokens` reached from `current` by a key press, moving on the view's row/col grid. */
export function move(
  tokens: ReadonlyArray<{ row: number; col: number }>,
  current: number,
  dir: Move,
): number {
  if (tokens.length === 0) return -1;
  if (current < 0 || current >= tokens.length) return 0;
  if (dir === 'home') return 0;
  if (dir === 'end') return tokens.length - 1;
  const here = tokens[current];
  const [dr, dc] = { left: [0, -1], right: [0, 1], up: [-1, 0], down: [1, 0] }[dir];
  const target = tokens.findIndex((t) => t.row === here.row + dr && t.col === here.col + dc);
  return target >= 0 ? target : current;
}

/** How many of a token's words fit in a cell `heightPx` tall at `fontPx`, at least 1 and at most `k`. */
export function wordsThatFit(heightPx: number, fontPx: number, k: number): number {
  return Math.max(1, Math.min(k, Math.floor((heightPx - 2) / (fontPx * 1.1))));
}

/** Label font size for a cell of this size, in px. */
export function cellFontPx(widthPx: number, heightPx: number): number {
  return Math.max(7, Math.min(16, Math.min(heightPx * 0.34, widthPx * 0.28)));
}
