/**
 * LLaVA-NeXT's language-model input side (deep lens): LlavaNextProcessor expands `<image>` to the packed token
 * count (newline rows included) exactly as LlavaProcessor does. Without a chat template the Vicuna-style prompt of
 * llava-v1.6-vicuna (system line, then `USER: <image>\n{question} ASSISTANT:`) is used, the format of
 * ../shared/fixtures-deep (the model card's system line goes on with "The assistant gives helpful, detailed, and
 * polite answers to the human's questions."; hub checkpoints ship their own chat template).
 */
import { QUESTION_JINJA } from '../../llm/spec.js';
import { llavaLanguage } from '../llava/language.js';

export const LLAVA_NEXT_LANGUAGE = llavaLanguage(
  `A chat between a curious human and an artificial intelligence assistant. USER: <image>\n${QUESTION_JINJA} ASSISTANT:`,
  'the llava-v1.6-vicuna chat format (Vicuna system line)',
  true,
);
