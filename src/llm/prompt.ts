/**
 * The deep lens's prompt: the model's one-image chat prompt as transformers' processor builds it.
 *   1. text: `--raw-prompt` as is, or the question rendered with the checkpoint's chat template
 *      (processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)), or with the
 *      family's documented format when the checkpoint ships no template;
 *   2. the processor's expansion of the image placeholder to the image's n tokens (PromptFormat.expand);
 *   3. tokenizer(expanded, add_special_tokens=...) and the image run's positions (all ids equal to the image token).
 * Chat templates are rendered with @huggingface/jinja (the Jinja implementation of transformers.js).
 */
import { Template } from '@huggingface/jinja';
import type { Json } from '../config/reader.js';
import { BadInputError, CheckpointError } from '../errors.js';
import { oneImageMessages, type PromptFormat } from './spec.js';
import type { PromptTokenizer } from './tokenizer.js';
import type { TokenLayout } from '../types.js';

export const DEFAULT_QUESTION = 'What is shown in this image?';

/** The prompt as the model saw it. */
export interface BuiltPrompt {
  /** The text before placeholder expansion (the rendered template, or the raw prompt). */
  text: string;
  /** What the processor tokenized. */
  expanded: string;
  ids: number[];
  /** Positions of the image tokens, ascending (one run, or with the family's special tokens among them). */
  imagePositions: number[];
  /** How the text was made, for notices and JSON. */
  source: 'raw' | 'chat_template' | 'family_format';
}

/**
 * The checkpoint's chat template, from (in transformers' order of preference) chat_template.jinja,
 * chat_template.json ("chat_template"), or tokenizer_config.json's chat_template (a string, or a list of
 * {name, template} with the one named "default"); null when there is none.
 */
export function findChatTemplate(files: {
  jinja: string | null;
  json: Json | null;
  tokenizerConfig: Json;
}): string | null {
  if (files.jinja) return files.jinja;
  const fromJson = files.json?.chat_template;
  if (typeof fromJson === 'string') return fromJson;
  const t = files.tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find(
      (x): x is { name: string; template: string } =>
        typeof x === 'object' && x !== null && (x as { name?: unknown }).name === 'default',
    );
    if (named && typeof named.template === 'string') return named.template;
  }
  return null;
}

/** Renders a chat template for one user turn with one image and `question`, with the generation prompt. */
export function renderChatTemplate(template: string, question: string, bos: string, where: string): string {
  let t: Template;
  try {
    t = new Template(template);
  } catch (e) {
    throw new CheckpointError(`${where}: the chat template does not parse: ${(e as Error).message}`, {
      cause: e,
      hint: 'pass the prompt text yourself with --raw-prompt',
    });
  }
  try {
    return t.render({
      messages: oneImageMessages(question),
      add_generation_prompt: true,
      bos_token: bos,
    });
  } catch (e) {
    throw new CheckpointError(`${where}: the chat template failed to render: ${(e as Error).message}`, {
      cause: e,
      hint: 'pass the prompt text yourself with --raw-prompt',
    });
  }
}

export function buildPrompt(args: {
  format: PromptFormat;
  tokenizer: PromptTokenizer;
  /** The checkpoint's chat template (findChatTemplate), or null. */
  chatTemplate: string | null;
  question?: string;
  raw?: string;
  /** The image's token layout: its rows of image_features, and the specials the processor puts among them. */
  layout: TokenLayout;
  where: string;
}): BuiltPrompt {
  const { format, tokenizer, where } = args;
  const n = args.layout.tokens.length;
  let text: string;
  let source: BuiltPrompt['source'];
  if (args.raw !== undefined) {
    text = args.raw;
    source = 'raw';
  } else {
    const q = args.question ?? DEFAULT_QUESTION;
    const own = format.useChatTemplate ? args.chatTemplate : null;
    text = renderChatTemplate(own ?? format.fallbackTemplate, q, tokenizer.bos, where);
    source = own ? 'chat_template' : 'family_format';
  }
  const expanded = format.expand(text, args.layout, { bos: tokenizer.bos });
  // transformers' ProcessorMixin.apply_chat_template: a rendered template that already starts with the bos token
  // is tokenized without special tokens ("we'd add special tokens twice").
  const templated = source !== 'raw' && tokenizer.bos !== '' && expanded.startsWith(tokenizer.bos);
  const ids = tokenizer.encode(expanded, format.addSpecialTokens && !templated);
  const imageId = tokenizer.tokenId(format.imageToken);
  if (imageId === undefined) {
    throw new CheckpointError(`${where}: the tokenizer has no ${format.imageToken} token`, {
      hint: 'tokenizer.json must list the image token among its added tokens',
    });
  }
  const imagePositions: number[] = [];
  ids.forEach((id, i) => {
    if (id === imageId) imagePositions.push(i);
  });
  if (imagePositions.length !== n) {
    throw new BadInputError(
      `the prompt has ${imagePositions.length} image tokens (${format.imageToken}, id ${imageId}) but the image has ${n}`,
      {
        hint:
          imagePositions.length === 0
            ? `write the image placeholder ${format.placeholder} once in --raw-prompt`
            : `write the image placeholder ${format.placeholder} exactly once (one image per prompt)`,
      },
    );
  }
  return { text, expanded, ids, imagePositions, source };
}
