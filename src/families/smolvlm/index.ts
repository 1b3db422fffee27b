/**
 * SmolVLM (`model_type: smolvlm`): Idefics3's code with SmolVLM's defaults (512 px tiles, longest edge 2048, usually
 * scale_factor 3 or 4 and tied embeddings, read from config.json). transformers 5.12.1 models/smolvlm is a modular
 * copy of models/idefics3 (same image processor, vision tower, pixel shuffle, connector and prompt markers), so this
 * folder only names the family and its processor class; the pieces live in src/families/idefics3.
 */
import { makeIdefics3Family } from '../idefics3/index.js';

export const smolvlm = makeIdefics3Family({
  modelType: 'smolvlm',
  label: 'SmolVLM',
  exampleHubId: 'HuggingFaceTB/SmolVLM-256M-Instruct',
  processorClass: 'SmolVLMImageProcessor',
  visionModelType: 'smolvlm_vision',
});
