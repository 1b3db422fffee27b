/**
 * Where a checkpoint's image-processor settings live. transformers 5.x `save_pretrained` writes ONE
 * `processor_config.json` with the image processor nested under `image_processor` (no preprocessor_config.json);
 * hub repos made with 4.x have a flat `preprocessor_config.json` (+ a flat processor_config.json holding only
 * processor fields such as `image_seq_length`). 5.12.1 loads both layouts to the same processor
 * (processing_utils.py ProcessorMixin.get_processor_dict / image_processing_base.py get_image_processor_dict), and so
 * does this reader.
 * Precedence: the NESTED dict wins when both are present; the flat file is read only when processor_config.json has
 * no `image_processor` key. transformers 5.x src/transformers/image_processing_base.py,
 * ImageProcessingMixin.get_image_processor_dict (read at 59ac1638a29c1ef522e113b37fd5de49abf21c16): "Load
 * image_processor dict. Priority goes as (nested config if found -> image processor config)", then
 * `if resolved_image_processor_file is not None and image_processor_dict is None:` loads the flat file; the same rule
 * in models/auto/image_processing_auto.py (get_image_processor_config), which picks the class.
 * Shared by every family that reads 5.x layouts; it names no family.
 */
import { CheckpointError } from '../errors.js';
import type { Json } from './reader.js';

export interface ImageProcessorSettings {
  /** The image processor's settings (possibly empty: the class defaults apply). */
  settings: Json;
  /** The file and key they came from, for messages ("dir/processor_config.json → image_processor"). */
  where: string;
  /** Processor-level fields (processor_config.json top level, e.g. image_seq_length, processor_class). */
  processor: Json;
  /** False when neither file had image-processor settings (the caller uses the class defaults and says so). */
  found: boolean;
}

export function imageProcessorSettings(
  preprocessor: Json | null,
  processorConfig: Json | null,
  where: string,
): ImageProcessorSettings {
  const processor = processorConfig ?? {};
  const nested = processor['image_processor'];
  if (nested !== undefined && nested !== null) {
    if (typeof nested !== 'object' || Array.isArray(nested)) {
      throw new CheckpointError(`${where}/processor_config.json: "image_processor" must be an object`, {
        hint: 're-save the processor with transformers 5 (Processor.save_pretrained) or fix the file',
      });
    }
    return {
      settings: nested as Json,
      where: `${where}/processor_config.json → image_processor`,
      processor,
      found: true,
    };
  }
  if (preprocessor) {
    return { settings: preprocessor, where: `${where}/preprocessor_config.json`, processor, found: true };
  }
  return { settings: {}, where: `${where} (no image-processor settings)`, processor, found: false };
}
