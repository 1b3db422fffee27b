/**
 * The prompt tokenizer: tokenizer.json through @huggingface/tokenizers (tokenizers.js), as transformers'
 * `tokenizer(text, add_special_tokens=...)` encodes it. Added tokens (`<image>`, `<s>`, ...) are split out first
 * (leftmost-longest), each remaining segment is normalised and pre-tokenised on its own, and the post-processor
 * adds `<s>` (see ../shared/fixtures-deep/README.md, "Tokenization": 67 strings checked identical with Rust
 * tokenizers 0.22.2 and tokenizers.js 0.2.0).
 *
 * transformers 5 (models/llama/tokenization_llama.py LlamaTokenizer.__init__, tokenization_utils_tokenizers.py)
 * rebuilds a LlamaTokenizer-class checkpoint's pipeline instead of reading tokenizer.json's normalizer and
 * pre-tokenizer: normalizer None, pre_tokenizer Metaspace(replacement "▁", prepend_scheme "first", split False).
 * With `rebuildAsLlama` the same is done to the JSON before tokenizers.js loads it.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { Json } from '../config/reader.js';
import { CheckpointError } from '../errors.js';

export class PromptTokenizer {
  private constructor(
    private readonly tok: Tokenizer,
    /** The tokenizer's bos token text (tokenizer_config.json bos_token), or '' when it has none. */
    readonly bos: string,
    /** Whether the pipeline was rebuilt as transformers 5's LlamaTokenizer. */
    readonly rebuilt: boolean,
  ) {}

  /** Whether transformers 5 rebuilds this tokenizer_config's tokenizer (its class is LlamaTokenizer[Fast]). */
  static isLlamaClass(tokenizerConfig: Json): boolean {
    const c = tokenizerConfig.tokenizer_class;
    return c === 'LlamaTokenizer' || c === 'LlamaTokenizerFast';
  }

  static create(
    tokenizerJson: Uint8Array,
    tokenizerConfig: Json,
    opts: { rebuildAsLlama: boolean; where: string },
  ): PromptTokenizer {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(new TextDecoder().decode(tokenizerJson)) as Record<string, unknown>;
    } catch (e) {
      throw new CheckpointError(`${opts.where}/tokenizer.json is not valid JSON`, { cause: e });
    }
    if (opts.rebuildAsLlama) {
      parsed = {
        ...parsed,
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
      };
    }
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(parsed, tokenizerConfig);
    } catch (e) {
      throw new CheckpointError(`${opts.where}/tokenizer.json: tokenizers.js could not load it`, {
        cause: e,
      });
    }
    const b = tokenizerConfig.bos_token;
    const bos =
      typeof b === 'string'
        ? b
        : b && typeof b === 'object' && typeof (b as { content?: unknown }).content === 'string'
          ? (b as { content: string }).content
          : '';
    return new PromptTokenizer(tok, bos, opts.rebuildAsLlama);
  }

  encode(text: string, addSpecialTokens = true): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  tokens(text: string, addSpecialTokens = true): string[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).tokens;
  }

  /** The id of a token written out (an added token such as `<image>`), or undefined. */
  tokenId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}
