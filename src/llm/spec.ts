/**
 * What a family says about its language model's input side, for the deep lens: how the processor writes the
 * one-image prompt (chat template or the family's documented format, the image placeholder and its expansion),
 * how positions are numbered (plain, offset, or M-RoPE) and which attention mask the prompt gets. The decoder
 * layers themselves are shared (src/graph/decoder.ts) and described by TextSpec.decoder (src/text/tensors.ts).
 * Families fill a LanguageSide in src/families/<model_type>/language.ts; nothing here imports a family.
 */
import type { TokenLayout } from '../types.js';

export interface PromptFormat {
  /** What a chat template writes for the image, and what `--raw-prompt` text must contain (`<image>`). */
  placeholder: string;
  /** The token every image row is (its id is looked up in the tokenizer). */
  imageToken: string;
  /**
   * A Jinja template used when the checkpoint ships none, rendered like a chat template (messages,
   * add_generation_prompt, bos_token): the family's documented one-image format.
   */
  fallbackTemplate: string;
  /** Where that format comes from (a model card, the processor's own prompt builder), for notices. */
  fallbackSource: string;
  /** Whether the checkpoint's own chat template is used when present (PaliGemma's processor writes its own). */
  useChatTemplate: boolean;
  /** processor(text=..., images=[one image]): the exact string it tokenizes (n = layout.tokens.length). */
  expand(text: string, layout: TokenLayout, special: { bos: string }): string;
  /** tokenizer(..., add_special_tokens) as the processor calls it. */
  addSpecialTokens: boolean;
  /**
   * transformers 5 reads this model type's tokenizer.json as written (MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS in
   * models/auto/tokenization_auto.py: llava, llava_next, ...); otherwise a LlamaTokenizer-class checkpoint gets
   * its pipeline rebuilt (Metaspace prepend_scheme "first", no normalizer). 4.45 always read the file as written.
   */
  v5TokenizerAsWritten: boolean;
}

/** RoPE position ids, [rows, seq] row-major (rows = 1, or 3 for M-RoPE's t, h, w). */
export interface PositionIds {
  rows: number;
  data: Float32Array;
}

export interface LanguageSide {
  prompt: PromptFormat;
  /** causal, or bidirectional over the whole prompt (PaliGemma's prefix-LM with no suffix). */
  attention: 'causal' | 'bidirectional';
  /**
   * Gemma 3: each contiguous run of image tokens also attends both ways (the processor's token_type_ids), on
   * top of `attention` and whatever the sliding window says. Unset: no such blocks.
   */
  imageBlocks?: boolean;
  /** Position ids of a prompt of `seq` tokens whose image run is [imageStart, imageStart + layout tokens). */
  positions(seq: number, imageStart: number, layout: TokenLayout): PositionIds;
  /**
   * Vision-graph outputs (packed like the features) added at the image positions to the input of decoder layer
   * `beforeLayer` (Qwen3-VL's DeepStack); [] for every other family.
   */
  injections: ReadonlyArray<{ output: string; beforeLayer: number }>;
}

/** arange(offset, offset + seq): LlamaModel's default position ids (PaliGemma counts from 1). */
export function plainPositions(seq: number, offset = 0): PositionIds {
  const data = new Float32Array(seq);
  for (let i = 0; i < seq; i++) data[i] = i + offset;
  return { rows: 1, data };
}

/**
 * The processor's text for one image's run: the layout's specials (`<fake_token_around_image>`, `<row_1_col_1>`,
 * "\n", ...) at their places among `imageToken` x layout.tokens.length.
 */
export function imageRunText(layout: TokenLayout, imageToken: string): string {
  const specials = layout.specials ?? [];
  const n = layout.tokens.length;
  let out = '';
  let s = 0;
  for (let t = 0; t <= n; t++) {
    while (s < specials.length && specials[s]!.before === t) out += specials[s++]!.text;
    if (t < n) out += imageToken;
  }
  return out;
}

/** LLaVA's placeholder expansion: every `placeholder` becomes `placeholder` x n before tokenizing. */
export function repeatPlaceholder(text: string, placeholder: string, n: number): string {
  return text.split(placeholder).join(placeholder.repeat(n));
}

/** The one-image chat a chat template is rendered with (transformers' apply_chat_template message format). */
export function oneImageMessages(question: string): unknown[] {
  return [
    {
      role: 'user',
      content: [{ type: 'image' }, { type: 'text', text: question }],
    },
  ];
}

/**
 * Jinja for the question of oneImageMessages (the text parts of the first message), for fallback formats:
 * `USER: <image>\n${QUESTION_JINJA} ASSISTANT:` (no whitespace control: the text around it is kept exactly).
 */
export const QUESTION_JINJA =
  "{% for c in messages[0]['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}";
