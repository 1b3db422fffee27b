/**
 * Idefics3 / SmolVLM token layout and packing. The connector output is [tiles, T, H]; the LLM receives its rows in
 * order (image token k <- tile k // T, row k % T: masked_scatter in Idefics3, SmolVLM's per-block gather gives the
 * same), so packing is the identity gather. What the layout adds is where each token sits:
 *   grid tiles (row-major): view 'grid', row/col in the (rows * t) x (cols * t) token grid over the canvas (tile
 *     (row // t, col // t), place (row % t, col % t) in it; `crop` = the tile's index in pixel_values);
 *   the global image (last tile, or an unsplit image's only tile): view 'base', a t x t grid over the whole image;
 *   t = (M / patch) / scale_factor.
 * Boxes: canvas pixels map linearly onto the ORIGINAL image (the longest-edge and canvas resizes are edge-to-edge,
 * so one anisotropic scale), the global tile's M x M frame spans the whole image.
 * Specials: Idefics3Processor / SmolVLMProcessor `_prompt_split_image` (transformers 5.12.1,
 * models/idefics3/processing_idefics3.py): per grid row, per tile `<fake_token_around_image><row_r_col_c>` + T image
 * tokens, then "\n"; then "\n<fake_token_around_image><global-img>" + T image tokens + `<fake_token_around_image>`.
 * An unsplit image is `<fake_token_around_image><global-img>` + T + `<fake_token_around_image>`. The newline after the
 * last row and the one before the global image are listed as ONE "\n\n" token, as Llama-3 / SmolLM2 vocabularies
 * merge them (fixtures-modern: `ĊĊ`).
 */
import type { Box, LayoutSpecial, LayoutToken, TokenLayout, ViewInfo } from '../../types.js';
import { packFeatures } from '../../layout/layout.js';
import type { Idefics3Geometry } from './processor.js';

export const FAKE_TOKEN = '<fake_token_around_image>';
export const GLOBAL_TOKEN = '<global-img>';
export const rowColToken = (r: number, c: number): string => `<row_${r + 1}_col_${c + 1}>`;

export interface Idefics3LayoutSpec {
  /** Tile side M in pixels and tokens per tile side t. */
  tileSize: number;
  tokenGrid: number;
}

export function idefics3Layout(
  image: { width: number; height: number },
  geo: Pick<Idefics3Geometry, 'rows' | 'cols' | 'canvas'>,
  spec: Idefics3LayoutSpec,
): TokenLayout {
  const { tileSize: M, tokenGrid: t } = spec;
  const T = t * t;
  const px = M / t; // tile pixels per token
  const tokens: LayoutToken[] = [];
  const specials: LayoutSpecial[] = [];
  const special = (text: string) =>
    specials.push({ text, before: tokens.length, position: tokens.length + specials.length });
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  const box = (x0: number, y0: number, x1: number, y1: number, sx: number, sy: number): Box => {
    const bx0 = clip(x0 * sx, image.width);
    const by0 = clip(y0 * sy, image.height);
    return { x: bx0, y: by0, w: clip(x1 * sx, image.width) - bx0, h: clip(y1 * sy, image.height) - by0 };
  };
  const pushTile = (tile: number, kind: 'tile' | 'global', gr: number, gc: number) => {
    const grid = kind === 'tile';
    // the frame the box is measured in: canvas pixels (grid tiles) or the global tile's own M x M pixels
    const sx = grid ? image.width / geo.canvas.width : image.width / M;
    const sy = grid ? image.height / geo.canvas.height : image.height / M;
    const ox = grid ? gc * M : 0;
    const oy = grid ? gr * M : 0;
    for (let r = 0; r < t; r++) {
      for (let c = 0; c < t; c++) {
        tokens.push({
          index: tokens.length,
          kind: 'patch',
          view: grid ? 'grid' : globalView,
          crop: tile,
          row: grid ? gr * t + r : r,
          col: grid ? gc * t + c : c,
          source: r * t + c,
          box: box(ox + c * px, oy + r * px, ox + (c + 1) * px, oy + (r + 1) * px, sx, sy),
        });
      }
    }
  };
  const views: ViewInfo[] = [];
  // The global image is the base view (as LLaVA-NeXT's squashed base crop). The 'thumbnail' view name exists in
  // src/types.ts, but the result schema (src/render/json.ts, imgtokens.result/1) still accepts only base | grid.
  const globalView = 'base';
  if (geo.rows > 0) {
    for (let r = 0; r < geo.rows; r++) {
      for (let c = 0; c < geo.cols; c++) {
        special(FAKE_TOKEN);
        special(rowColToken(r, c));
        pushTile(r * geo.cols + c, 'tile', r, c);
      }
      if (r < geo.rows - 1) special('\n');
    }
    special('\n\n');
    views.push({ name: 'grid', rows: geo.rows * t, cols: geo.cols * t, start: 0, count: tokens.length });
  }
  const start = tokens.length;
  special(FAKE_TOKEN);
  special(GLOBAL_TOKEN);
  pushTile(geo.rows * geo.cols, 'global', -1, -1);
  special(FAKE_TOKEN);
  views.push({ name: globalView, rows: t, cols: t, start, count: T });
  return { imageWidth: image.width, imageHeight: image.height, views, tokens, specials };
}

/** crop_features [tiles, T, H] -> [tiles * T, H] through the layout's gather (the identity order). */
export function idefics3Pack(
  cropFeatures: Float32Array,
  tiles: number,
  T: number,
  hidden: number,
  layout: TokenLayout,
): Float32Array {
  return packFeatures(cropFeatures, [tiles, T, hidden], layout, null);
}
