/**
 * The PNG renderer: the image scaled so its longest side is `size` (default 1000, as the original tool's
 * `--size`), with each image token's top word(s) drawn centred in the token's true rectangle (ResultJson box,
 * original-image pixels). Newline and CLS tokens (box null) are skipped.
 *
 * Text: black or white, whichever contrasts more (WCAG ratio) with the mean luminance of the pixels under the box,
 * with a thin outline in the other colour; the font size is the largest at which every line fits the box; below
 * `minFontPx` the lines are cut with `…`. Drawing is clipped to the box, so a word never spills into its neighbours.
 *
 * view 'all' (LLaVA-NeXT: base view + high-resolution grid): one panel per view, each with a caption bar, placed
 * side by side for square and portrait images and one above the other for landscape images, so the output stays
 * roughly square. A single view is drawn without caption: the PNG is exactly the scaled image.
 *
 * Deep lens (ResultJson.deep): `layer: N` draws layer N's words instead of the projector-level ones; `layers: [a, b,
 * ...]` draws a small-multiples sheet, one panel per layer (each `size` on its longest side), labelled with its
 * layer, in a grid of ceil(sqrt(n)) columns. `lens` picks the logit lens (default) or the embedding lens.
 *
 * The original tool (pifanpi/visualizing-vlm-tokens imgtokens.py `render_words_on_image`) drew the base grid only,
 * with PIL's default bitmap font and a colour chosen from the top-left quarter of each cell.
 */

import { createCanvas, ImageData, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';
import { BadInputError } from '../errors.js';
import type { ResultJson, RgbImage, ViewInfo } from '../types.js';
import { layerTitle, resultAtLayer, type DeepLensName } from './deep.js';
import { registerFonts } from './fonts.js';
import {
  checkImageMatches,
  labelLines,
  meanLuminance,
  patchTokens,
  prefersDarkText,
  selectViews,
  viewTitle,
  type ViewChoice,
} from './text.js';

export interface PngOptions {
  /** Which view to draw; default 'base'. */
  view?: ViewChoice;
  /** Longest side of each drawn image in pixels; default 1000. */
  size?: number;
  /** How many of each token's top words to draw, one per line; default 1. */
  words?: number;
  /** Append a word's gloss ("天 (sky)") when the result has one; default false. */
  glosses?: boolean;
  /** Draw a faint outline around every token's rectangle; default false. */
  outlines?: boolean;
  /** Smallest font size in output pixels; longer words are cut with `…`; default 7. */
  minFontPx?: number;
  /** Draw this deep-lens layer (a hidden_states index the result has) instead of the projector-level words. */
  layer?: number;
  /** Draw a sheet of panels, one per deep-lens layer, each labelled with its layer. */
  layers?: number[];
  /** Which deep lens `layer` / `layers` draw; default 'logit'. */
  lens?: DeepLensName;
}

const CAPTION_PX = 34;
const GAP_PX = 12;
const LINE_HEIGHT = 1.12;
const MAX_SIZE = 16384;

/** Draws the words over the image and returns the encoded PNG. */
export async function renderPng(
  result: ResultJson,
  image: RgbImage,
  options: PngOptions = {},
): Promise<Buffer> {
  const canvas = renderCanvas(result, image, options);
  return canvas.encode('png');
}

/** As renderPng, but returns the @napi-rs/canvas Canvas (for callers that want another format). */
export function renderCanvas(result: ResultJson, image: RgbImage, options: PngOptions = {}): Canvas {
  checkImageMatches(result, image);
  const lens = options.lens ?? 'logit';
  if (options.layers !== undefined) return renderSheet(result, image, options.layers, lens, options);
  if (options.layer !== undefined) result = resultAtLayer(result, options.layer, lens);
  const size = options.size ?? 1000;
  if (!Number.isInteger(size) || size < 16 || size > MAX_SIZE) {
    throw new BadInputError(`size must be an integer from 16 to ${MAX_SIZE}, got ${size}`);
  }
  const views = selectViews(result, options.view ?? 'base');
  const family = registerFonts();

  const scale = size / Math.max(image.width, image.height);
  const pw = Math.max(1, Math.round(image.width * scale));
  const ph = Math.max(1, Math.round(image.height * scale));
  const source = rgbToCanvas(image);

  const captions = options.view === 'all' && views.length > 1;
  const panelH = ph + (captions ? CAPTION_PX : 0);
  const sideBySide = image.width <= image.height;
  const n = views.length;
  const W = sideBySide ? n * pw + (n - 1) * GAP_PX : pw;
  const H = sideBySide ? panelH : n * panelH + (n - 1) * GAP_PX;
  const canvas = createCanvas(W, H);
  const ctx = canvas.getContext('2d');
  if (captions) {
    ctx.fillStyle = '#16181d';
    ctx.fillRect(0, 0, W, H);
  }

  views.forEach((view, i) => {
    const ox = sideBySide ? i * (pw + GAP_PX) : 0;
    const oy = (sideBySide ? 0 : i * (panelH + GAP_PX)) + (captions ? CAPTION_PX : 0);
    if (captions) drawCaption(ctx, family, view, ox, oy - CAPTION_PX, pw);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(source, ox, oy, pw, ph);
    drawView(
      ctx,
      family,
      result,
      image,
      view,
      { ox, oy, sx: pw / image.width, sy: ph / image.height },
      options,
    );
  });
  return canvas;
}

/** The small-multiples sheet: one renderCanvas panel per layer under a caption bar, ceil(sqrt(n)) columns. */
function renderSheet(
  result: ResultJson,
  image: RgbImage,
  layers: number[],
  lens: DeepLensName,
  options: PngOptions,
): Canvas {
  if (layers.length === 0) throw new BadInputError('layers is empty: give at least one layer to draw');
  const panels = layers.map((layer) =>
    renderCanvas(resultAtLayer(result, layer, lens), image, {
      ...options,
      layers: undefined,
      layer: undefined,
    }),
  );
  const deep = result.deep!;
  const family = registerFonts();
  const pw = panels[0].width;
  const ph = panels[0].height + CAPTION_PX;
  const cols = Math.ceil(Math.sqrt(layers.length));
  const rows = Math.ceil(layers.length / cols);
  const W = cols * pw + (cols - 1) * GAP_PX;
  const H = rows * ph + (rows - 1) * GAP_PX;
  if (W > MAX_SIZE || H > MAX_SIZE) {
    throw new BadInputError(`a sheet of ${layers.length} layers at size ${pw} would be ${W}×${H} px`, {
      hint: `lower --size (each panel's longest side) or draw fewer layers; the limit is ${MAX_SIZE} px a side`,
    });
  }
  const canvas = createCanvas(W, H);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#16181d';
  ctx.fillRect(0, 0, W, H);
  panels.forEach((panel, i) => {
    const x = (i % cols) * (pw + GAP_PX);
    const y = Math.floor(i / cols) * (ph + GAP_PX);
    ctx.fillStyle = '#e8eaf0';
    ctx.font = `600 ${Math.round(CAPTION_PX * 0.5)}px ${family}`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(layerTitle(deep, layers[i], lens), x + 10, y + CAPTION_PX / 2, pw - 20);
    ctx.drawImage(panel, x, y + CAPTION_PX);
  });
  return canvas;
}

interface Placement {
  ox: number;
  oy: number;
  sx: number;
  sy: number;
}

function drawView(
  ctx: SKRSContext2D,
  family: string,
  result: ResultJson,
  image: RgbImage,
  view: ViewInfo,
  at: Placement,
  options: PngOptions,
): void {
  const nWords = options.words ?? 1;
  const minPx = options.minFontPx ?? 7;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineJoin = 'round';
  // Pass 1: per token, the largest size at which the widest line fits 90% of the box width and all lines fit 80%
  // of its height (55% for a single line). Pass 2 caps every size at 1.25× the view's median, so that short words ("a", "天") do not tower
  // over their neighbours; longer words still shrink to fit.
  ctx.font = `600 100px ${family}`;
  const items = patchTokens(result, view.name).map((tok) => {
    const box = {
      x: at.ox + tok.box.x * at.sx,
      y: at.oy + tok.box.y * at.sy,
      w: tok.box.w * at.sx,
      h: tok.box.h * at.sy,
    };
    const lines = labelLines(tok.top, nWords, options.glosses ?? false);
    const widest = Math.max(...lines.map((l) => ctx.measureText(l).width), 1);
    const n = Math.max(lines.length, 1);
    const fit = Math.min((box.w * 0.9 * 100) / widest, (box.h * (n === 1 ? 0.55 : 0.8)) / (n * LINE_HEIGHT));
    return { tok, box, lines, fit };
  });
  const cap = 1.25 * median(items.filter((it) => it.lines.length > 0).map((it) => it.fit));

  for (const { tok, box, lines, fit } of items) {
    const { x, y, w, h } = box;
    if (options.outlines) {
      ctx.strokeStyle = 'rgba(255,255,255,0.18)';
      ctx.lineWidth = 1;
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    }
    if (lines.length === 0) continue;
    const fits = fit >= minPx;
    const px = fits ? Math.min(fit, cap) : Math.min(minPx, h * 0.9);
    ctx.font = `600 ${px.toFixed(2)}px ${family}`;
    const shown = fits ? lines : lines.map((l) => ellipsize(ctx, l, w * 0.96));

    const dark = prefersDarkText(meanLuminance(image, tok.box));
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, y, w, h);
    ctx.clip();
    ctx.lineWidth = Math.min(Math.max(px * 0.16, 1.2), 5);
    ctx.strokeStyle = dark ? 'rgba(255,255,255,0.78)' : 'rgba(0,0,0,0.78)';
    ctx.fillStyle = dark ? '#000000' : '#ffffff';
    const cx = x + w / 2;
    const top = y + h / 2 - ((shown.length - 1) * px * LINE_HEIGHT) / 2;
    shown.forEach((line, j) => {
      ctx.strokeText(line, cx, top + j * px * LINE_HEIGHT);
      ctx.fillText(line, cx, top + j * px * LINE_HEIGHT);
    });
    ctx.restore();
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return Infinity;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function drawCaption(
  ctx: SKRSContext2D,
  family: string,
  view: ViewInfo,
  x: number,
  y: number,
  w: number,
): void {
  ctx.save();
  ctx.fillStyle = '#16181d';
  ctx.fillRect(x, y, w, CAPTION_PX);
  ctx.fillStyle = '#e8eaf0';
  ctx.font = `600 ${Math.round(CAPTION_PX * 0.5)}px ${family}`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(viewTitle(view), x + 10, y + CAPTION_PX / 2, w - 20);
  ctx.restore();
}

/** `text` cut so that it measures at most `maxWidth` with the current font, ending in `…` when cut. */
function ellipsize(ctx: SKRSContext2D, text: string, maxWidth: number): string {
  if (ctx.measureText(text).width <= maxWidth) return text;
  const chars = Array.from(text);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(`${chars.slice(0, mid).join('')}…`).width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${chars.slice(0, lo).join('')}…`;
}

/** An RgbImage as a canvas at its own size. */
function rgbToCanvas(image: RgbImage): Canvas {
  const rgba = new Uint8ClampedArray(image.width * image.height * 4);
  for (let i = 0, j = 0; i < image.width * image.height; i++, j += 3) {
    rgba[i * 4] = image.data[j];
    rgba[i * 4 + 1] = image.data[j + 1];
    rgba[i * 4 + 2] = image.data[j + 2];
    rgba[i * 4 + 3] = 255;
  }
  const c = createCanvas(image.width, image.height);
  c.getContext('2d').putImageData(new ImageData(rgba, image.width, image.height), 0, 0);
  return c;
}
