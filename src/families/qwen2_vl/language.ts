/**
 * Qwen2-VL's language-model input side (deep lens): a Qwen2 decoder (q/k/v biases) with M-RoPE.
 * - Chat template: the checkpoint's, else the one of Qwen/Qwen2-VL-*-Instruct (chat_template.json), which adds the
 *   default system turn and writes the image as `<|vision_start|><|image_pad|><|vision_end|>`.
 * - Expansion: Qwen2VLProcessor replaces each `<|image_pad|>` by grid_t·grid_h·grid_w / merge² copies (= the
 *   merged tokens, the layout's rows x cols).
 * - Positions (transformers 4.45.1 Qwen2VLForConditionalGeneration.get_rope_index; 5.x the same values, found
 *   through mm_token_type_ids): text before the image counts 0, 1, ... on all three rows (t, h, w); the image
 *   token at merged row R, column C of an image starting at s gets (s, s + R, s + C); text after the image resumes
 *   at s + max(grid_t, rows, cols).
 */
import { repeatPlaceholder, type LanguageSide, type PositionIds } from '../../llm/spec.js';
import type { TokenLayout } from '../../types.js';

const PAD = '<|image_pad|>';

/** The chat template of Qwen/Qwen2-VL-7B-Instruct's chat_template.json, for one image and text turns. */
export const QWEN2_VL_CHAT_TEMPLATE =
  "{% set image_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** M-RoPE position ids [3, seq] for one image of rows x cols merged tokens (t = 1) starting at `start`. */
export function mropePositions(seq: number, start: number, rows: number, cols: number): PositionIds {
  const data = new Float32Array(3 * seq);
  const n = rows * cols;
  const after = start + Math.max(1, rows, cols);
  for (let i = 0; i < seq; i++) {
    let t: number, h: number, w: number;
    if (i < start) t = h = w = i;
    else if (i < start + n) {
      const j = i - start;
      t = start;
      h = start + Math.floor(j / cols);
      w = start + (j % cols);
    } else t = h = w = after + (i - start - n);
    data[i] = t;
    data[seq + i] = h;
    data[2 * seq + i] = w;
  }
  return { rows: 3, data };
}

/** The single base view's merged grid (the layout's rows x cols, raster order). */
function baseGrid(layout: TokenLayout): { rows: number; cols: number } {
  const v = layout.views[0]!;
  if (layout.views.length !== 1 || v.rows * v.cols !== layout.tokens.length) {
    throw new Error(
      `qwen2_vl layout: expected one view of rows x cols tokens, got ${JSON.stringify(layout.views)}`,
    );
  }
  return { rows: v.rows, cols: v.cols };
}

export const QWEN2_VL_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: '<|vision_start|><|image_pad|><|vision_end|>',
    imageToken: PAD,
    fallbackTemplate: QWEN2_VL_CHAT_TEMPLATE,
    fallbackSource: 'the chat template of Qwen/Qwen2-VL-*-Instruct',
    useChatTemplate: true,
    expand: (text, layout) => repeatPlaceholder(text, PAD, layout.tokens.length),
    addSpecialTokens: true,
    v5TokenizerAsWritten: false,
  },
  attention: 'causal',
  positions: (seq, start, layout) => {
    const { rows, cols } = baseGrid(layout);
    return mropePositions(seq, start, rows, cols);
  },
  injections: [],
};
