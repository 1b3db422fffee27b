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
import { TiledLayoutBuilder, type TileGrid } from '../../layout/tiles.js';
import type { TokenLayout } from '../../types.js';
import { packFeatures } from '../../layout/layout.js';
import type { Idefics3Geometry } from './processor.js';

export const FAKE_TOKEN = '<fake_token_around_image>';
export const GLOBAL_TOKEN = '<global-img>';
export const rowColToken = (r: number, c: number): string => `<row_${r + 1}_col_${c + 1}>`;

export type Idefics3LayoutSpec = TileGrid;

export function idefics3Layout(
  image: { width: number; height: number },
  geo: Pick<Idefics3Geometry, 'rows' | 'cols' | 'canvas'>,
  spec: Idefics3LayoutSpec,
): TokenLayout {
  const b = new TiledLayoutBuilder(image, spec);
  if (geo.rows > 0) {
    for (let r = 0; r < geo.rows; r++) {
      for (let c = 0; c < geo.cols; c++) {
        b.special(FAKE_TOKEN);
        b.special(rowColToken(r, c));
        b.gridTile(r * geo.cols + c, r, c, geo.canvas);
      }
      if (r < geo.rows - 1) b.special('\n');
    }
    b.special('\n\n');
    b.closeGrid(geo.rows, geo.cols);
  }
  b.special(FAKE_TOKEN);
  b.special(GLOBAL_TOKEN);
  b.wholeImage(geo.rows * geo.cols);
  b.special(FAKE_TOKEN);
  return b.build();
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
