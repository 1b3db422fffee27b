/**
 * LLaVA-1.5's language-model input side (deep lens): the LlavaProcessor prompt and a causal Llama/Mistral/Qwen2
 * decoder with plain positions.
 * - Chat template: the checkpoint's (chat_template.json / tokenizer_config.json), else the LLaVA-1.5 format of the
 *   llava-hf model cards, `USER: <image>\n{question} ASSISTANT:` (also clemneo/llava-interp's).
 * - Expansion: LlavaProcessor.__call__ (transformers 4.45.1 models/llava/processing_llava.py; 5.x the same)
 *   replaces the string `<image>` by `<image>` x n before tokenizing, n = the image's feature rows.
 * - transformers 5 reads llava's tokenizer.json as written (llava is in MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS,
 *   models/auto/tokenization_auto.py).
 */
import { plainPositions, QUESTION_JINJA, repeatPlaceholder, type LanguageSide } from '../../llm/spec.js';

export const LLAVA_IMAGE_TOKEN = '<image>';

/** A LLaVA-style language side with `fallbackTemplate` for checkpoints without a chat template. */
export function llavaLanguage(
  fallbackTemplate: string,
  fallbackSource: string,
  v5AsWritten: boolean,
): LanguageSide {
  return {
    prompt: {
      placeholder: LLAVA_IMAGE_TOKEN,
      imageToken: LLAVA_IMAGE_TOKEN,
      fallbackTemplate,
      fallbackSource,
      useChatTemplate: true,
      expand: (text, layout) => repeatPlaceholder(text, LLAVA_IMAGE_TOKEN, layout.tokens.length),
      addSpecialTokens: true,
      v5TokenizerAsWritten: v5AsWritten,
    },
    attention: 'causal',
    positions: (seq) => plainPositions(seq),
    injections: [],
  };
}

export const LLAVA_LANGUAGE = llavaLanguage(
  `USER: <image>\n${QUESTION_JINJA} ASSISTANT:`,
  'the LLaVA-1.5 chat format of the llava-hf model cards',
  true,
);
