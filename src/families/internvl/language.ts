/**
 * InternVL's language-model input side (deep lens): a causal Qwen2 decoder (q/k/v biases) with plain positions.
 * - Chat template: the checkpoint's (chat_template.jinja), else the one InternVL checkpoints ship for one image
 *   and a question: `<|im_start|>user\n<IMG_CONTEXT>\n{question}<|im_end|>\n<|im_start|>assistant\n`.
 * - Expansion: InternVLProcessor replaces each `<IMG_CONTEXT>` by `<img>` + `<IMG_CONTEXT>` x (T · tiles) +
 *   `</img>` (transformers 5.12.1 models/internvl/processing_internvl.py): the layout's specials around its tokens.
 * - transformers 5 reads its tokenizer.json as written (a Qwen2 tokenizer, not a LlamaTokenizer class).
 */
import { imageRunText, plainPositions, QUESTION_JINJA, type LanguageSide } from '../../llm/spec.js';

const CONTEXT = '<IMG_CONTEXT>';

export const INTERNVL_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: CONTEXT,
    imageToken: CONTEXT,
    fallbackTemplate: `<|im_start|>user\n<IMG_CONTEXT>\n${QUESTION_JINJA}<|im_end|>\n<|im_start|>assistant\n`,
    fallbackSource: 'the InternVL chat template (one image, then the question)',
    useChatTemplate: true,
    expand: (text, layout) => text.split(CONTEXT).join(imageRunText(layout, CONTEXT)),
    addSpecialTokens: true,
    v5TokenizerAsWritten: true,
  },
  attention: 'causal',
  positions: (seq) => plainPositions(seq),
  injections: [],
};
