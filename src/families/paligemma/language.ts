/**
 * PaliGemma's language-model input side (deep lens). PaliGemma has no chat template: PaliGemmaProcessor writes the
 * prompt itself (transformers 4.45.1 models/paligemma/processing_paligemma.py build_string_from_input; 5.x the
 * same): `<image>` x n, then bos, then the prefix text with any `<image>` removed, then "\n", tokenized without
 * special tokens. A question becomes the VQA task prefix `answer en {question}`.
 * Attention: the prefix-LM mask. Every prompt position has token_type_ids 0, which 5.x turns into one
 * bidirectional block and 4.45 made bidirectional regardless: the whole prompt attends both ways.
 * Positions are 1-indexed (modeling_paligemma.py: position_ids = cache_position + 1).
 * transformers 5 rebuilds its LlamaTokenizer-class tokenizer as Metaspace(prepend_scheme "first").
 */
import { plainPositions, QUESTION_JINJA, type LanguageSide } from '../../llm/spec.js';

const IMAGE = '<image>';

export const PALIGEMMA_LANGUAGE: LanguageSide = {
  prompt: {
    placeholder: IMAGE,
    imageToken: IMAGE,
    fallbackTemplate: `answer en ${QUESTION_JINJA}`,
    fallbackSource: "PaliGemma's VQA task prefix (its processor writes the prompt)",
    useChatTemplate: false,
    expand: (text, layout, { bos }) =>
      `${IMAGE.repeat(layout.tokens.length)}${bos}${text.split(IMAGE).join('')}\n`,
    addSpecialTokens: false,
    v5TokenizerAsWritten: false,
  },
  attention: 'bidirectional',
  positions: (seq) => plainPositions(seq, 1),
  injections: [],
};
