/**
 * Qwen3-VL's language-model input side (deep lens): the Qwen3 text layer (per-head q/k norms, no q/k/v biases,
 * interleaved M-RoPE: src/text/models.ts QWEN3_VL_DECODER, src/graph/decoder.ts) with DeepStack.
 * - Chat template: the checkpoint's, else Qwen3-VL-Instruct's for one user turn, which (unlike Qwen2-VL's) writes no
 *   default system turn: `<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{question}<|im_end|>\n
 *   <|im_start|>assistant\n`.
 * - Expansion and positions: as Qwen2-VL (Qwen3VLModel.get_rope_index gives an image the same (t, h, w)).
 * - DeepStack (transformers 5.x models/qwen3_vl/modeling_qwen3_vl.py Qwen3VLTextModel.forward, _deepstack_process):
 *   the k-th DeepStack merger's output is added at the image positions to the OUTPUT of decoder layer k, i.e. the
 *   input of layer k + 1; HF's hidden_states[k + 1] is the output before the addition, which is what the lens reads.
 */
import { UnsupportedModelError } from '../../errors.js';
import { repeatPlaceholder, type LanguageSide } from '../../llm/spec.js';
import { QWEN2_VL_LANGUAGE } from '../qwen2_vl/language.js';
import { deepstackOutput } from './vision.js';

const PAD = '<|image_pad|>';

/** Qwen3-VL-Instruct's chat template, for text and image turns (no default system turn). */
export const QWEN3_VL_CHAT_TEMPLATE =
  "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

export function qwen3vlLanguage(deepstack: number, numLayers: number, where: string): LanguageSide {
  if (deepstack >= numLayers) {
    throw new UnsupportedModelError(
      `${where}: ${deepstack} DeepStack features for ${numLayers} decoder layers; the deep lens adds them before layers 1..${numLayers - 1} only`,
    );
  }
  return {
    ...QWEN2_VL_LANGUAGE,
    prompt: {
      ...QWEN2_VL_LANGUAGE.prompt,
      fallbackTemplate: QWEN3_VL_CHAT_TEMPLATE,
      fallbackSource: 'the chat template of Qwen/Qwen3-VL-*-Instruct',
      expand: (text, layout) => repeatPlaceholder(text, PAD, layout.tokens.length),
    },
    injections: Array.from({ length: deepstack }, (_, k) => ({
      output: deepstackOutput(k),
      beforeLayer: k + 1,
    })),
  };
}
