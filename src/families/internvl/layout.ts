/**
 * InternVL token layout and packing. The projector output is [tiles, T, H]; the LLM receives its rows in order
 * (InternVLModel masked_scatter: image token k <- tile k // T, row k % T), so packing is the identity gather.
 * InternVLProcessor (transformers 5.12.1, models/internvl/processing_internvl.py) replaces the image placeholder with
 *   `<img>` + `<IMG_CONTEXT>` x (T · n_tiles) + `</img>`
 * and puts NOTHING between tiles or rows: tile k is tokens [k T, (k+1) T) of the run, the thumbnail the last T.
 * Views: past one tile, the row-major tiles are 'grid' (row / col in the (rows t) x (cols t) token grid over the canvas:
 * tile (row // t, col // t), place (row % t, col % t)) and the thumbnail is 'base' (a t x t grid over the whole image);
 * a 1 x 1 grid's only tile (the whole image squashed, no thumbnail) is 'base'. t = (T / patch) / s.
 * Boxes: the canvas resize is edge to edge (aspect not kept), so one anisotropic scale maps canvas pixels onto the
 * ORIGINAL image; the thumbnail's T x T frame spans the whole image. The specials are `<img>` before the first token
 * and `</img>` after the last.
 */
import { packFeatures } from '../../layout/layout.js';
import type { Box, LayoutSpecial, LayoutToken, TokenLayout, ViewInfo } from '../../types.js';

export const IMG_START = '<img>';
export const IMG_END = '</img>';

export interface InternVLLayoutSpec {
  /** Tile side T in pixels and tokens per tile side t. */
  tileSize: number;
  tokenGrid: number;
}

export function internvlLayout(
  image: { width: number; height: number },
  grid: { rows: number; cols: number },
  spec: InternVLLayoutSpec,
): TokenLayout {
  const { tileSize: M, tokenGrid: t } = spec;
  const px = M / t; // tile pixels per token
  const tiled = grid.rows * grid.cols > 1;
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
  /** One tile's t x t tokens; `gr`/`gc` = -1 for a whole-image tile (thumbnail, or the only tile). */
  const pushTile = (tile: number, gr: number, gc: number) => {
    const inGrid = gr >= 0;
    // the frame the box is measured in: canvas pixels (grid tiles) or the tile's own T x T pixels (whole image)
    const sx = inGrid ? image.width / (grid.cols * M) : image.width / M;
    const sy = inGrid ? image.height / (grid.rows * M) : image.height / M;
    const ox = inGrid ? gc * M : 0;
    const oy = inGrid ? gr * M : 0;
    for (let r = 0; r < t; r++) {
      for (let c = 0; c < t; c++) {
        tokens.push({
          index: tokens.length,
          kind: 'patch',
          view: inGrid ? 'grid' : 'base',
          crop: tile,
          row: inGrid ? gr * t + r : r,
          col: inGrid ? gc * t + c : c,
          source: r * t + c,
          box: box(ox + c * px, oy + r * px, ox + (c + 1) * px, oy + (r + 1) * px, sx, sy),
        });
      }
    }
  };
  const views: ViewInfo[] = [];
  special(IMG_START);
  if (tiled) {
    for (let r = 0; r < grid.rows; r++) for (let c = 0; c < grid.cols; c++) pushTile(r * grid.cols + c, r, c);
    views.push({ name: 'grid', rows: grid.rows * t, cols: grid.cols * t, start: 0, count: tokens.length });
  }
  const start = tokens.length;
  pushTile(tiled ? grid.rows * grid.cols : 0, -1, -1);
  views.push({ name: 'base', rows: t, cols: t, start, count: t * t });
  special(IMG_END);
  return { imageWidth: image.width, imageHeight: image.height, views, tokens, specials };
}

/** crop_features [tiles, T, H] -> [tiles * T, H] through the layout's gather (the identity order). */
export function internvlPack(
  cropFeatures: Float32Array,
  tiles: number,
  T: number,
  hidden: number,
  layout: TokenLayout,
): Float32Array {
  return packFeatures(cropFeatures, [tiles, T, hidden], layout, null);
}
