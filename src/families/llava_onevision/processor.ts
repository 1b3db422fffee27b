/**
 * LlavaOnevisionImageProcessor: LLaVA-NeXT's anyres (best pinpoint, aspect-preserving resize with math.ceil, black
 * padding floor(diff/2) on both sides in 4.45, row-major crops of size["height"]), but crop 0 is the whole image resized
 * straight to size {height, width} and every crop is then resized to size: no shortest-edge resize, no center crop.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357)
 * models/llava_onevision/image_processing_llava_onevision.py (__init__ defaults, get_image_patches, _preprocess).
 * The pipeline is LLaVA-NeXT's with the center crop off and crop_size = size, so the spec is an AnyresProcessorSpec
 * and anyresPreprocess (src/image/anyres.ts) runs it bit-exactly.
 */
import type { Json } from '../../config/reader.js';
import { UnsupportedModelError } from '../../errors.js';
import { anyresPreprocess, type AnyresProcessorSpec } from '../../image/anyres.js';
import type { ProcessorDef } from '../../image/processor.js';
import { parseLlavaNextProcessorConfig } from '../llava_next/processor.js';

/** LlavaOnevisionImageProcessor.__init__ default image_grid_pinpoints: 384 * {1..6} x 384 * {1..6}, [h, w]. */
export const ONEVISION_DEFAULT_PINPOINTS: Array<[number, number]> = [1, 2, 3, 4, 5, 6].flatMap((i) =>
  [1, 2, 3, 4, 5, 6].map((j): [number, number] => [384 * i, 384 * j]),
);

/**
 * Parses a LlavaOnevisionImageProcessor preprocessor_config.json. Class defaults: size {384, 384}, the pinpoints above,
 * BICUBIC, CLIP mean/std (real checkpoints write 0.5), do_pad and do_convert_rgb true.
 */
export function parseOnevisionProcessorConfig(
  raw: Json,
  where = 'preprocessor_config.json',
): AnyresProcessorSpec {
  const size = raw['size'] ?? { height: 384, width: 384 };
  const spec = parseLlavaNextProcessorConfig(
    {
      ...raw,
      image_processor_type: 'LlavaNextImageProcessor',
      size,
      do_center_crop: false,
      crop_size: size, // get_image_patches(patch_size=size["height"]); _preprocess resizes every crop to size
      image_grid_pinpoints: raw['image_grid_pinpoints'] ?? ONEVISION_DEFAULT_PINPOINTS,
    },
    where,
  );
  if (!('height' in spec.size) || spec.size.height !== spec.size.width) {
    // anyresPreprocess resizes the base view to a square of the shortest side, which is size only when it is square.
    throw new UnsupportedModelError(
      `${where}: LlavaOnevisionImageProcessor needs a square "size": {"height": n, "width": n}, got ${JSON.stringify(size)}`,
      { hint: 'released LLaVA-OneVision checkpoints use {"height": 384, "width": 384}' },
    );
  }
  return { ...spec, type: ONEVISION_PROCESSOR.type, processorClass: 'LlavaOnevisionImageProcessor' };
}

export const ONEVISION_PROCESSOR: ProcessorDef<AnyresProcessorSpec> = {
  type: 'LlavaOnevisionImageProcessor',
  parse: parseOnevisionProcessorConfig,
  run: anyresPreprocess,
};
