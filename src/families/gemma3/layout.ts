/**
 * Gemma 3 token layout. Each view (the whole image, then any pan-and-scan crops) gives t x t tokens in raster order
 * (t = sqrt(mm_tokens_per_image)); token (r, c) is the average of patches [k r, k r + k) x [k c, k c + k), i.e. the
 * view's pixels [c S/t, (c + 1) S/t) x [r S/t, (r + 1) S/t), mapped back through the squash (and the crop's
 * offset) onto the ORIGINAL image. Packing is the identity: image token i <- view i // T, row i % T
 * (Gemma3Model: masked_scatter of get_image_features in order).
 * Views: 'base' = the whole image; 'grid' = the pan-and-scan crops side by side (landscape) or stacked (portrait),
 * so the grid is (crop rows · t) x (crop cols · t) tokens.
 * Specials (Gemma3Processor, transformers 5.12.1 models/gemma3/processing_gemma3.py): each image block is
 * `\n\n<start_of_image>` + T x `<image_soft_token>` + `<end_of_image>\n\n`; boi and eoi are listed around every
 * view's tokens (the `\n\n` pieces belong to the surrounding text, and with pan-and-scan the text between the
 * blocks, " and here are some crops to help you see better ", is not listed: `position` counts image tokens and
 * boi / eoi only).
 */
import { patchBox } from '../../layout/layout.js';
import type { LayoutSpecial, LayoutToken, TokenLayout, ViewInfo } from '../../types.js';
import type { Gemma3Preprocess } from './processor.js';

export const GEMMA3_BOI = '<start_of_image>';
export const GEMMA3_EOI = '<end_of_image>';

export function gemma3Layout(pre: Gemma3Preprocess, tokenGrid: number): TokenLayout {
  const t = tokenGrid;
  const image = pre.geometry.image;
  const tokens: LayoutToken[] = [];
  const specials: LayoutSpecial[] = [];
  const special = (text: string) =>
    specials.push({ text, before: tokens.length, position: tokens.length + specials.length });
  const views: ViewInfo[] = [];
  const { cropRows, cropCols } = pre.gemma3;
  for (const crop of pre.geometry.crops) {
    const base = crop.view === 'base';
    const start = tokens.length;
    special(GEMMA3_BOI);
    for (let r = 0; r < t; r++) {
      for (let c = 0; c < t; c++) {
        tokens.push({
          index: tokens.length,
          kind: 'patch',
          view: base ? 'base' : 'grid',
          crop: crop.index,
          row: base ? r : crop.gridRow * t + r,
          col: base ? c : crop.gridCol * t + c,
          source: r * t + c,
          box: patchBox(crop, { rows: t, cols: t }, r, c, image),
        });
      }
    }
    special(GEMMA3_EOI);
    if (base) views.push({ name: 'base', rows: t, cols: t, start, count: t * t });
  }
  if (pre.geometry.crops.length > 1) {
    const start = t * t;
    views.push({
      name: 'grid',
      rows: cropRows * t,
      cols: cropCols * t,
      start,
      count: tokens.length - start,
    });
  }
  return { imageWidth: image.width, imageHeight: image.height, views, tokens, specials };
}
