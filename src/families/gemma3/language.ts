/**
 * Gemma 3's language-model input side (deep lens). The decoder is the shared layer with Gemma 3's options
 * (sandwich norms, (1 + w) q/k norms, query_pre_attn_scalar, per-layer-type rope and window: src/text/gemma-decoder.ts
 * gemma3TextDecoder, src/graph/decoder.ts).
 * - Chat template: the checkpoint's, else google/gemma-3-4b-it's (below, verbatim; it writes <bos> itself and only
 *   `<start_of_image>` for the image).
 * - Expansion (transformers 5.12.1 models/gemma3/processing_gemma3.py Gemma3Processor.full_image_sequence,
 *   replace_image_token): each `<start_of_image>` becomes `\n\n<start_of_image>` + T x `<image_soft_token>` +
 *   `<end_of_image>\n\n`; with pan-and-scan crops, "Here is the original image " + the whole image's block +
 *   " and here are some crops to help you see better " + the crops' blocks joined by " ". The blocks are the
 *   layout's boi ... eoi runs (src/families/gemma3/layout.ts). processor(text=...) tokenizes with special tokens.
 * - Positions: arange(seq) (Gemma3Model; the fixture captures them at the rotary embedding).
 * - Attention: causal (sliding layers also windowed), and each contiguous run of image tokens bidirectional: the
 *   processor's token_type_ids (1 exactly on the image soft tokens, not on boi / eoi) make Gemma3Model or a
 *   same-image-block rule into the causal and sliding masks (modeling_gemma3.py token_type_ids_mask_function).
 * transformers 5 reads the GemmaTokenizer-class tokenizer.json as written (only LlamaTokenizer-class ones are rebuilt).
 */
import { BadInputError } from '../../errors.js';
import { plainPositions, type LanguageSide } from '../../llm/spec.js';
import type { TokenLayout } from '../../types.js';
import { GEMMA3_BOI, GEMMA3_EOI } from './layout.js';

const IMAGE = '<image_soft_token>';

/** google/gemma-3-4b-it's chat_template (as fixtures-modern/tiny-gemma3/chat_template.jinja carries it verbatim). */
export const GEMMA3_CHAT_TEMPLATE =
  "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n    {%- elif message['content'] is iterable -%}\n        {%- for item in message['content'] -%}\n            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n";

/** The processor's text for the image: one `\n\n<boi>...<eoi>\n\n` block per view, pan-and-scan's sentences around them. */
export function gemma3ImageText(layout: TokenLayout): string {
  const specials = layout.specials ?? [];
  const blocks: string[] = [];
  let open: number | null = null;
  for (const s of specials) {
    if (s.text === GEMMA3_BOI) open = s.before;
    else if (s.text === GEMMA3_EOI && open !== null) {
      blocks.push(`\n\n${GEMMA3_BOI}${IMAGE.repeat(s.before - open)}${GEMMA3_EOI}\n\n`);
      open = null;
    }
  }
  const n = layout.tokens.length;
  if (blocks.length === 0 || blocks.reduce((a, b) => a + b.split(IMAGE).length - 1, 0) !== n) {
    throw new BadInputError(
      `gemma3: the layout's ${GEMMA3_BOI} ... ${GEMMA3_EOI} blocks do not hold its ${n} tokens`,
    );
  }
  if (blocks.length === 1) return blocks[0]!;
  return (
    `Here is the original image ${blocks[0]!} and here are some crops to help you see better ` +
    blocks.slice(1).join(' ')
  );
}

export const GEMMA3_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: GEMMA3_BOI,
    imageToken: IMAGE,
    fallbackTemplate: GEMMA3_CHAT_TEMPLATE,
    fallbackSource: 'the chat template of google/gemma-3-4b-it',
    useChatTemplate: true,
    expand: (text, layout) => text.split(GEMMA3_BOI).join(gemma3ImageText(layout)),
    addSpecialTokens: true,
    v5TokenizerAsWritten: true,
  },
  attention: 'causal',
  imageBlocks: true,
  positions: (seq) => plainPositions(seq),
  injections: [],
};
