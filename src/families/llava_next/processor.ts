/**
 * LlavaNextImageProcessor: CLIPImageProcessor's settings plus `image_grid_pinpoints`, run by the shared anyres
 * pipeline (src/image/anyres.ts).
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357)
 * models/llava_next/image_processing_llava_next.py (LlavaNextImageProcessor.__init__ defaults).
 */
import type { Json } from '../../config/reader.js';
import { ConfigReader } from '../../config/reader.js';
import { anyresPreprocess, type AnyresProcessorSpec, type OddPadding } from '../../image/anyres.js';
import { CLIP_PROCESSOR_DEFAULTS, parseClipProcessorConfig } from '../../image/clip.js';
import { parsePinpoints, type ProcessorDef } from '../../image/processor.js';

/** LlavaNextImageProcessor.__init__ defaults: CLIP's plus the pinpoints and do_pad. */
export const LLAVA_NEXT_PROCESSOR_DEFAULTS = {
  ...CLIP_PROCESSOR_DEFAULTS,
  gridPinpoints: [
    [336, 672],
    [672, 336],
    [672, 672],
    [1008, 336],
    [336, 1008],
  ] as Array<[number, number]>,
  doPad: true,
};

/**
 * Parses a LlavaNextImageProcessor preprocessor_config.json (values the file omits get the class defaults).
 * `oddPadding` selects the transformers behaviour to mirror (default 4.45's 'floor-both').
 */
export function parseLlavaNextProcessorConfig(
  raw: Json,
  where = 'preprocessor_config.json',
  opts: { oddPadding?: OddPadding } = {},
): AnyresProcessorSpec {
  const r = new ConfigReader(raw, where);
  const pins = r.raw['image_grid_pinpoints'] ?? LLAVA_NEXT_PROCESSOR_DEFAULTS.gridPinpoints;
  return {
    ...parseClipProcessorConfig(raw, where),
    type: LLAVA_NEXT_PROCESSOR.type,
    gridPinpoints: parsePinpoints(pins, `${where} → image_grid_pinpoints`),
    doPad: r.bool('do_pad', LLAVA_NEXT_PROCESSOR_DEFAULTS.doPad),
    oddPadding: opts.oddPadding ?? 'floor-both',
  };
}

export const LLAVA_NEXT_PROCESSOR: ProcessorDef<AnyresProcessorSpec> = {
  type: 'LlavaNextImageProcessor',
  parse: (raw, where) => parseLlavaNextProcessorConfig(raw, where),
  run: anyresPreprocess,
};
