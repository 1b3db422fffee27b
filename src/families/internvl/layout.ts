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
import { TiledLayoutBuilder, type TileGrid } from '../../layout/tiles.js';
import type { TokenLayout } from '../../types.js';

export const IMG_START = '<img>';
export const IMG_END = '</img>';

export type InternVLLayoutSpec = TileGrid;

export function internvlLayout(
  image: { width: number; height: number },
  grid: { rows: number; cols: number },
  spec: InternVLLayoutSpec,
): TokenLayout {
  const b = new TiledLayoutBuilder(image, spec);
  const canvas = { width: grid.cols * spec.tileSize, height: grid.rows * spec.tileSize };
  const tiled = grid.rows * grid.cols > 1;
  b.special(IMG_START);
  if (tiled) {
    for (let r = 0; r < grid.rows; r++)
      for (let c = 0; c < grid.cols; c++) b.gridTile(r * grid.cols + c, r, c, canvas);
    b.closeGrid(grid.rows, grid.cols);
  }
  b.wholeImage(tiled ? grid.rows * grid.cols : 0);
  b.special(IMG_END);
  return b.build();
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
