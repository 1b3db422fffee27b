/**
 * Shared helpers for every renderer: how a vocabulary word is shown (control characters, blanks and bidi marks made
 * visible), how wide it is in terminal cells, how a result is split into views, and the mean luminance under a box
 * (which decides black or white text). One implementation, so the PNG, HTML and terminal outputs agree.
 */

import { BadInputError } from '../errors.js';
import {
  VIEW_CHOICES,
  type Box,
  type ResultJson,
  type RgbImage,
  type ViewChoice,
  type ViewInfo,
  type ViewName,
  type WordScore,
} from '../types.js';
import { displayWord } from '../vocab/word.js';

export { displayWord };

export type { ViewChoice } from '../types.js';

/** `value` as a ViewChoice; a BadInputError naming `what` (e.g. "--view") and the choices otherwise. */
export function parseViewChoice(value: string, what: string): ViewChoice {
  if (!(VIEW_CHOICES as readonly string[]).includes(value)) {
    throw new BadInputError(`${what} must be one of ${VIEW_CHOICES.join(', ')}; got "${value.slice(0, 40)}"`);
  }
  return value as ViewChoice;
}

export type ResultToken = ResultJson['tokens'][number];

const VIEW_TITLES: Record<ViewName, string> = {
  base: 'base view',
  grid: 'high-resolution grid',
  tiles: 'high-resolution tiles',
  thumbnail: 'thumbnail',
};

export function viewTitle(view: ViewInfo): string {
  return `${VIEW_TITLES[view.name]} · ${view.rows}×${view.cols}`;
}

/** The views to draw for `choice`, in the result's order; a view the result lacks is a BadInputError. */
export function selectViews(result: ResultJson, choice: ViewChoice): ViewInfo[] {
  if (choice === 'all') return [...result.views];
  const v = result.views.find((x) => x.name === choice);
  if (!v) {
    const have = result.views.map((x) => x.name).join(', ') || '(none)';
    throw new BadInputError(`view '${choice}' is not in this result (it has: ${have})`, {
      hint: `pick one of: ${have}, or 'all'; only LLaVA-NeXT-style models have a 'grid' view`,
    });
  }
  return [v];
}

/**
 * One view's patch tokens as a rows × cols grid of strings (`cell(token)`; '' where no token sits), for the
 * --save-words file and the terminal's text grid. A view the result lacks is a BadInputError.
 */
export function viewGrid(
  result: ResultJson,
  name: ViewName,
  cell: (t: ResultToken) => string,
): { view: ViewInfo; grid: string[][] } {
  const view = result.views.find((v) => v.name === name);
  if (!view) {
    throw new BadInputError(
      `view '${name}' is not in this result (it has: ${result.views.map((v) => v.name).join(', ')})`,
    );
  }
  const grid = Array.from({ length: view.rows }, () => Array.from({ length: view.cols }, () => ''));
  for (const t of result.tokens) {
    const inside = t.row >= 0 && t.row < view.rows && t.col >= 0 && t.col < view.cols;
    if (t.view === name && t.kind === 'patch' && inside) grid[t.row][t.col] = cell(t);
  }
  return { view, grid };
}

/** The tokens of one view that cover part of the image (patch tokens with a box), in sequence order. */
export function patchTokens(result: ResultJson, view: ViewName): Array<ResultToken & { box: Box }> {
  return result.tokens.filter((t): t is ResultToken & { box: Box } => t.view === view && t.box !== null);
}

/** The label lines drawn in a patch: the first `n` words, each optionally followed by its gloss ("天 (sky)"). */
export function labelLines(top: readonly WordScore[], n: number, glosses: boolean): string[] {
  const lines: string[] = [];
  for (const w of top.slice(0, Math.max(0, n))) {
    const d = displayWord(w.text);
    if (d === '') continue;
    lines.push(glosses && w.gloss ? `${d} (${w.gloss})` : d);
  }
  return lines;
}

/** True for characters a terminal draws two cells wide (CJK, Hangul, kana, fullwidth forms, most emoji). */
export function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Terminal cells taken by `s` (combining marks count 0, wide characters 2). */
export function cellWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (/\p{M}/u.test(ch)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

/** `s` cut to at most `cells` terminal cells, ending in `…` when cut. */
export function truncateCells(s: string, cells: number): string {
  if (cellWidth(s) <= cells) return s;
  if (cells <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = cellWidth(ch);
    if (w + cw > cells - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/**
 * Mean relative luminance (WCAG: linearised sRGB, 0 = black, 1 = white) of the pixels under `box`, which is in
 * the image's own pixel coordinates. Large boxes are sampled on a regular lattice of about 1024 points.
 */
export function meanLuminance(image: RgbImage, box: Box): number {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.w));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.h));
  if (x1 <= x0 || y1 <= y0) return 0.5;
  const step = Math.max(1, Math.floor(Math.sqrt(((x1 - x0) * (y1 - y0)) / 1024)));
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y += step) {
    for (let x = x0; x < x1; x += step) {
      const o = (y * image.width + x) * 3;
      sum += 0.2126 * SRGB_TO_LINEAR[image.data[o]];
      sum += 0.7152 * SRGB_TO_LINEAR[image.data[o + 1]];
      sum += 0.0722 * SRGB_TO_LINEAR[image.data[o + 2]];
      n++;
    }
  }
  return sum / n;
}

const SRGB_TO_LINEAR = Float64Array.from({ length: 256 }, (_, i) => {
  const c = i / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});

/**
 * True when dark text contrasts more than light text with a background of luminance `lum`: the WCAG contrast
 * ratios (L1 + 0.05) / (L2 + 0.05) against black and white cross at L ≈ 0.179.
 */
export function prefersDarkText(lum: number): boolean {
  return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05);
}

/** Checks that `image` is the image the result was computed on (boxes are in its pixels). */
export function checkImageMatches(result: ResultJson, image: RgbImage): void {
  if (image.width !== result.image.width || image.height !== result.image.height) {
    throw new BadInputError(
      `image is ${image.width}×${image.height} but the result was computed on a ` +
        `${result.image.width}×${result.image.height} image`,
      { hint: 'pass the same (un-resized) image that was analysed; token boxes are in its pixels' },
    );
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new BadInputError(
      `image data has ${image.data.length} bytes, expected ${image.width * image.height * 3} (RGB, HWC)`,
    );
  }
}
