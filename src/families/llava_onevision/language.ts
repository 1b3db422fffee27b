/**
 * LLaVA-OneVision's language-model input side (deep lens): a Qwen2 decoder, causal, plain positions; the
 * processor expands `<image>` like LlavaProcessor. Without a chat template, the template the OneVision conversion
 * script writes (transformers models/llava_onevision/convert_llava_onevision_weights_to_hf.py) for one image:
 * `<|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n`. transformers 5 rebuilds its
 * LlamaTokenizer-class tokenizer (llava_onevision is not in MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS).
 */
import { QUESTION_JINJA } from '../../llm/spec.js';
import { llavaLanguage } from '../llava/language.js';

export const LLAVA_ONEVISION_LANGUAGE = llavaLanguage(
  `<|im_start|>user\n<image>\n${QUESTION_JINJA}<|im_end|>\n<|im_start|>assistant\n`,
  'the chat template of the LLaVA-OneVision conversion script',
  false,
);
