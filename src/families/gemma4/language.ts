/**
 * Gemma 4's language-model input side (deep lens). The decoder is the shared layer with Gemma 4's options (plain-w
 * sandwich norms, scale 1.0, weightless v norm, layer_scalar, global_head_dim and proportional RoPE on full layers,
 * per-layer inputs, kv sharing, the final-logit softcap: src/text/gemma-decoder.ts gemma4TextDecoder).
 * - Chat template: the checkpoint's, else the one-turn core of gemma-4-E2B/E4B-it's (below: `<bos><|turn>user\n`,
 *   an image as `\n\n<|image|>\n\n`, the text trimmed, `<turn|>\n`, the generation prompt `<|turn>model\n`; no
 *   system / thinking / tool parts).
 * - Expansion (transformers 5.12.1 models/gemma4/processing_gemma4.py Gemma4Processor): each `<|image|>` becomes
 *   `<|image>` + n x `<|image|>` + `<image|>` (n = the image's soft tokens, not processor_config image_seq_length).
 *   The template writes <bos>; tokenizer_config has add_bos_token false.
 * - Positions: arange(seq). Attention: causal (+ window on sliding layers); image blocks are bidirectional only
 *   with use_bidirectional_attention "vision" (DecoderConfig.gemma4.bidirectionalVision; E2B/E4B: null).
 * transformers 5 reads the GemmaTokenizer-class tokenizer.json as written.
 */
import { plainPositions, type LanguageSide } from '../../llm/spec.js';
import { GEMMA4_BOI, GEMMA4_EOI } from './layout.js';

const IMAGE = '<|image|>';

/** One user turn of gemma-4-E2B/E4B-it's chat template, for checkpoints without one. */
export const GEMMA4_CHAT_TEMPLATE =
  "{{ bos_token }}{%- for message in messages -%}{{- '<|turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' -}}{%- if message['content'] is string -%}{{- message['content'] | trim -}}{%- else -%}{%- for item in message['content'] -%}{%- if item['type'] == 'text' -%}{{- item['text'] | trim -}}{%- elif item['type'] == 'image' -%}{{- '\\n\\n<|image|>\\n\\n' -}}{%- endif -%}{%- endfor -%}{%- endif -%}{{- '<turn|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|turn>model\\n' -}}{%- endif -%}";

export const GEMMA4_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: IMAGE,
    imageToken: IMAGE,
    fallbackTemplate: GEMMA4_CHAT_TEMPLATE,
    fallbackSource: "the one-turn core of google/gemma-4-E2B-it's chat template",
    useChatTemplate: true,
    expand: (text, layout) =>
      text.split(IMAGE).join(`${GEMMA4_BOI}${IMAGE.repeat(layout.tokens.length)}${GEMMA4_EOI}`),
    addSpecialTokens: true,
    v5TokenizerAsWritten: true,
  },
  attention: 'causal',
  positions: (seq) => plainPositions(seq),
  injections: [],
};
