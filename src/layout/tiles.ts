/**
 * Tiled layouts (Idefics3 / SmolVLM, InternVL): the image is cut into square tiles of M px over a canvas plus one
 * whole-image tile, each tile t x t tokens, and the processor puts text tokens (layout specials) between them.
 *   grid tiles (row-major): view 'grid', row/col in the (rows * t) x (cols * t) token grid over the canvas (tile
 *     (row // t, col // t), place (row % t, col % t) in it; `crop` = the tile's index in pixel_values);
 *   the whole-image tile (thumbnail / global image, or an unsplit image's only tile): view 'base', t x t tokens.
 * Boxes: the canvas resizes are edge to edge (aspect not kept), so one anisotropic scale maps canvas pixels onto the
 * ORIGINAL image, and the whole-image tile's M x M frame spans the whole image; boxes are clipped to the image.
 */
import type { LayoutSpecial, LayoutToken, TokenLayout, ViewInfo } from '../types.js';
import { mapBox } from './layout.js';

export interface TileGrid {
  /** Tile side M in pixels and tokens per tile side t. */
  tileSize: number;
  tokenGrid: number;
}

export class TiledLayoutBuilder {
  private readonly tokens: LayoutToken[] = [];
  private readonly specials: LayoutSpecial[] = [];
  private readonly views: ViewInfo[] = [];

  constructor(
    private readonly image: { width: number; height: number },
    private readonly grid: TileGrid,
  ) {}

  /** A text token at the current place in the image run. */
  special(text: string): void {
    const before = this.tokens.length;
    this.specials.push({ text, before, position: before + this.specials.length });
  }

  /** Grid tile `tile` (its index in pixel_values) at tile row `gr`, column `gc` of a canvas of `canvas` pixels. */
  gridTile(tile: number, gr: number, gc: number, canvas: { width: number; height: number }): void {
    const { tileSize: M } = this.grid;
    const sx = this.image.width / canvas.width;
    const sy = this.image.height / canvas.height;
    this.pushTile(tile, 'grid', gr, gc, gc * M, gr * M, sx, sy);
  }

  /** The 'grid' view over every token so far: `rows` x `cols` tiles. */
  closeGrid(rows: number, cols: number): void {
    const t = this.grid.tokenGrid;
    this.views.push({ name: 'grid', rows: rows * t, cols: cols * t, start: 0, count: this.tokens.length });
  }

  /** The whole-image tile `tile`: the 'base' view. */
  wholeImage(tile: number): void {
    const { tileSize: M, tokenGrid: t } = this.grid;
    const start = this.tokens.length;
    this.pushTile(tile, 'base', 0, 0, 0, 0, this.image.width / M, this.image.height / M);
    this.views.push({ name: 'base', rows: t, cols: t, start, count: t * t });
  }

  build(): TokenLayout {
    const { width, height } = this.image;
    return {
      imageWidth: width,
      imageHeight: height,
      views: this.views,
      tokens: this.tokens,
      specials: this.specials,
    };
  }

  /** t x t tokens of one tile whose M x M pixels start at (ox, oy) of a frame that (sx, sy) maps onto the image. */
  private pushTile(
    tile: number,
    view: 'grid' | 'base',
    gr: number,
    gc: number,
    ox: number,
    oy: number,
    sx: number,
    sy: number,
  ): void {
    const { tileSize: M, tokenGrid: t } = this.grid;
    const px = M / t; // tile pixels per token
    for (let r = 0; r < t; r++) {
      for (let c = 0; c < t; c++) {
        this.tokens.push({
          index: this.tokens.length,
          kind: 'patch',
          view,
          crop: tile,
          row: gr * t + r,
          col: gc * t + c,
          source: r * t + c,
          box: mapBox(
            { sx, sy, tx: 0, ty: 0 },
            ox + c * px,
            oy + r * px,
            ox + (c + 1) * px,
            oy + (r + 1) * px,
            this.image,
          ),
        });
      }
    }
  }
}
