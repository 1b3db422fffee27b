/**
 * Gemma 4 token layout: one view, the aspect-preserving resized image; its (patch rows / k) x (patch cols / k) tokens
 * in raster order (Gemma4VisionPooler: token index = (y // k) · (W / k) + (x // k)), token (r, c) covering the
 * resized pixels [k p c, k p (c + 1)) x [k p r, k p (r + 1)), mapped back onto the ORIGINAL image through the resize
 * (edge to edge). Packing is the identity (the pooler's rows, in order, are the image-token rows of inputs_embeds).
 * Specials (Gemma4Processor, transformers 5.12.1 models/gemma4/processing_gemma4.py): `<|image|>` in the prompt
 * becomes boi `<|image>` + n x `<|image|>` + eoi `<image|>` (n = num_soft_tokens_per_image); no row or tile markers.
 */
import { mapBox } from '../../layout/layout.js';
import type { LayoutSpecial, LayoutToken, TokenLayout } from '../../types.js';
import type { Gemma4Preprocess } from './processor.js';

export const GEMMA4_BOI = '<|image>';
export const GEMMA4_EOI = '<image|>';

export function gemma4Layout(pre: Gemma4Preprocess, patchSize: number): TokenLayout {
  const { patchRows, patchCols, kernel: k } = pre.gemma4;
  const rows = patchRows / k;
  const cols = patchCols / k;
  const image = pre.geometry.image;
  const m = pre.geometry.crops[0].toOriginal;
  const side = k * patchSize;
  const tokens: LayoutToken[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      tokens.push({
        index: tokens.length,
        kind: 'patch',
        view: 'base',
        crop: 0,
        row: r,
        col: c,
        source: r * cols + c,
        box: mapBox(m, c * side, r * side, (c + 1) * side, (r + 1) * side, image),
      });
    }
  }
  const specials: LayoutSpecial[] = [
    { text: GEMMA4_BOI, before: 0, position: 0 },
    { text: GEMMA4_EOI, before: tokens.length, position: tokens.length + 1 },
  ];
  return {
    imageWidth: image.width,
    imageHeight: image.height,
    views: [{ name: 'base', rows, cols, start: 0, count: tokens.length }],
    tokens,
    specials,
  };
}
