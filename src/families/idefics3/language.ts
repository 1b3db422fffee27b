/**
 * Idefics3's and SmolVLM's language-model input side (deep lens): a causal Llama decoder with plain positions.
 * - Chat template: the checkpoint's, else the one of HuggingFaceM4/Idefics3-8B-Llama3 and SmolVLM
 *   (`{bos}User:<image>{question}<end_of_utterance>\nAssistant:` for one image and a question; the bos token is
 *   `<|begin_of_text|>` / `<|im_start|>`). A rendered prompt that starts with the bos token is tokenized without
 *   special tokens (transformers ProcessorMixin.apply_chat_template), so it is not added twice.
 * - Expansion: Idefics3Processor / SmolVLMProcessor replace `<image>` by the image's prompt string
 *   (transformers 5.12.1 models/idefics3/processing_idefics3.py get_image_prompt_string): per tile
 *   `<fake_token_around_image><row_r_col_c>` + `<image>` x T, "\n" after each grid row, then
 *   "\n<fake_token_around_image><global-img>" + `<image>` x T + `<fake_token_around_image>`: the layout's specials
 *   (layout.ts) among its tokens. The image tokens are therefore NOT one run.
 * - Their tokenizers are TokenizersBackend / GPT2Tokenizer: transformers 5 reads tokenizer.json as written.
 */
import { imageRunText, plainPositions, QUESTION_JINJA, type LanguageSide } from '../../llm/spec.js';

const IMAGE = '<image>';

export const IDEFICS3_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: IMAGE,
    imageToken: IMAGE,
    fallbackTemplate: `{{ bos_token }}User:<image>${QUESTION_JINJA}<end_of_utterance>\nAssistant:`,
    fallbackSource: 'the Idefics3 / SmolVLM chat template (User:<image>question<end_of_utterance>)',
    useChatTemplate: true,
    expand: (text, layout) => text.split(IMAGE).join(imageRunText(layout, IMAGE)),
    addSpecialTokens: true,
    v5TokenizerAsWritten: true,
  },
  attention: 'causal',
  positions: (seq) => plainPositions(seq),
  injections: [],
};
