/**
 * Where a checkpoint keeps its image-processor settings. transformers 5.x `processor.save_pretrained` writes ONE
 * `processor_config.json` with the image settings nested under `image_processor` (and processor-level keys such as
 * Idefics3's `image_seq_len` at its top level) and no `preprocessor_config.json`; checkpoints saved earlier have a flat
 * `preprocessor_config.json`. transformers 5.12.1 reads both (processing_utils.py ProcessorMixin.get_processor_dict /
 * image_processing_base.py get_image_processor_dict): the flat file wins when present.
 */
import { CheckpointError } from '../errors.js';
import type { Json } from '../arch/config.js';

export interface ProcessorFiles {
  /** The image-processor settings (flat), or null when the checkpoint has none. */
  image: Json | null;
  /** processor_config.json as a whole (processor-level keys), or null. */
  processor: Json | null;
  /** Which file `image` came from, for messages ("preprocessor_config.json" or "processor_config.json → image_processor"). */
  imageFile: string | null;
}

/** Picks the image settings from the two files (either may be null). */
export function imageProcessorSettings(preprocessor: Json | null, processor: Json | null): ProcessorFiles {
  if (preprocessor) return { image: preprocessor, processor, imageFile: 'preprocessor_config.json' };
  if (processor && processor['image_processor'] !== undefined) {
    const v = processor['image_processor'];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new CheckpointError('processor_config.json: "image_processor" must be an object', {
        hint: 'the file is damaged or not written by transformers; re-save the processor',
      });
    }
    return { image: v as Json, processor, imageFile: 'processor_config.json → image_processor' };
  }
  return { image: null, processor, imageFile: null };
}
