/**
 * The image processor's settings from either file layout a checkpoint may carry:
 *   - `preprocessor_config.json` (transformers 4.x and most hub repos): the image settings at the top level;
 *   - `processor_config.json` (written by transformers 5.x `ProcessorMixin.save_pretrained`): one file for the whole
 *     processor, the image settings nested under `image_processor` (and the video settings under `video_processor`).
 * Mirrors transformers 5.12.1 processing_utils.py (ProcessorMixin.to_dict / from_pretrained: sub-processors are saved as
 * nested dicts keyed by attribute name). `preprocessor_config.json` wins when both exist, as
 * ImageProcessingMixin.get_image_processor_dict reads it first.
 */
import { CheckpointError } from '../errors.js';
import type { Json } from '../arch/config.js';

/** Which file the image settings came from (for messages and notices). */
export type ProcessorFile = 'preprocessor_config.json' | 'processor_config.json';

/**
 * The flat image-processor dict: `preprocessor` as is, else `processor.image_processor`, else null.
 * A `processor_config.json` without `image_processor` (a text-only processor) gives null.
 */
export function imageProcessorDict(
  preprocessor: Json | null,
  processor: Json | null,
  where: string,
): { dict: Json; file: ProcessorFile } | null {
  if (preprocessor) return { dict: preprocessor, file: 'preprocessor_config.json' };
  if (!processor) return null;
  const nested = processor['image_processor'];
  if (nested === undefined || nested === null) return null;
  if (typeof nested !== 'object' || Array.isArray(nested)) {
    throw new CheckpointError(`${where}/processor_config.json: field "image_processor" must be an object`, {
      hint: 'transformers 5 writes the image settings as a nested object; re-save the processor',
    });
  }
  return { dict: nested as Json, file: 'processor_config.json' };
}
