/**
 * The model's vocabulary as people read it: for every row of the embedding matrix, the text the tokenizer
 * decodes it to, a display form that shows whitespace and bytes visibly, its class (normal, special/added,
 * byte-fallback, padding row) and, for Chinese, a CC-CEDICT gloss.
 *
 * Decoding uses @huggingface/tokenizers (tokenizers.js, the tokenizer of transformers.js):
 * `tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false })`, which is what
 * HF's `tokenizer.decode([id])` gives (see test/fixtures/llava/README.md, "Tokenizer").
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../errors.js';
import type { ExcludeKind } from '../types.js';
import { bytePiece, bytePieceValue, byteLevelBytes, displayBytes, visibleText } from './display.js';
import { cjkGloss } from './gloss.js';

/**
 * normal: an ordinary vocabulary piece; special: in tokenizer.json `added_tokens` with `special: true`;
 * added: in `added_tokens` with `special: false`; byte: a byte-fallback piece such as `<0xE5>`;
 * padding: an embedding row the tokenizer has no token for (padded vocabularies, e.g. 32064 rows for 32002 ids).
 */
export type TokenClass = 'normal' | 'special' | 'added' | 'byte' | 'padding';

const CLASS_NAMES: readonly TokenClass[] = ['normal', 'special', 'added', 'byte', 'padding'];
const CLASS_CODE = { normal: 0, special: 1, added: 2, byte: 3, padding: 4 } as const;

/** How the tokenizer writes spaces inside pieces, which decides how a piece is shown. */
type PieceStyle =
  | { kind: 'metaspace'; marker: string } // SentencePiece: '▁the'
  | { kind: 'bytelevel' } // GPT-2 byte-level BPE: 'Ġthe'
  | { kind: 'decoded' }; // anything else (WordPiece, …): show the decoded text

/** The parts of tokenizer.json read here; everything else is left to tokenizers.js. */
interface TokenizerJson {
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
  model?: { type?: string; byte_fallback?: boolean };
  decoder?: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Walks a decoder config (possibly a Sequence) and says how pieces spell spaces. */
function pieceStyle(decoder: unknown): PieceStyle {
  const parts: Record<string, unknown>[] = [];
  const walk = (d: unknown): void => {
    if (!isRecord(d)) return;
    parts.push(d);
    if (Array.isArray(d.decoders)) for (const x of d.decoders) walk(x);
  };
  walk(decoder);
  for (const d of parts) {
    if (d.type === 'ByteLevel') return { kind: 'bytelevel' };
    if (d.type === 'Metaspace') {
      const r = typeof d.replacement === 'string' ? d.replacement : '▁';
      return { kind: 'metaspace', marker: r };
    }
    if (d.type === 'Replace' && isRecord(d.pattern) && d.content === ' ') {
      const p = d.pattern.String;
      if (typeof p === 'string' && p.length > 0) return { kind: 'metaspace', marker: p };
    }
  }
  return { kind: 'decoded' };
}

export class Vocab {
  /** Rows of the embedding matrix (ids 0 … size-1). */
  readonly size: number;
  /** Ids the tokenizer knows (max id + 1); rows at or above it are padding. */
  readonly tokenizerSize: number;
  private readonly tokenizer: Tokenizer;
  private readonly classes: Uint8Array; // index into CLASS_NAMES
  private readonly style: PieceStyle;
  private readonly texts: Array<string | undefined>;
  private readonly displays: Array<string | undefined>;

  private constructor(tokenizer: Tokenizer, json: TokenizerJson, vocabSize: number) {
    this.tokenizer = tokenizer;
    this.size = vocabSize;
    this.style = pieceStyle(json.decoder);
    let maxId = -1;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.tokenizerSize = maxId + 1;
    this.texts = new Array<string | undefined>(vocabSize);
    this.displays = new Array<string | undefined>(vocabSize);

    this.classes = new Uint8Array(vocabSize); // 0 = normal
    const byteFallback = json.model?.byte_fallback === true;
    for (let id = 0; id < vocabSize; id++) {
      const piece = tokenizer.id_to_token(id);
      if (piece === undefined) this.classes[id] = CLASS_CODE.padding;
      else if (byteFallback && bytePieceValue(piece) !== null) this.classes[id] = CLASS_CODE.byte;
    }
    for (const t of json.added_tokens ?? []) {
      if (t.id < vocabSize) this.classes[t.id] = t.special === false ? CLASS_CODE.added : CLASS_CODE.special;
    }
  }

  /**
   * Builds the vocabulary from tokenizer.json (bytes, text or parsed JSON). `vocabSize` is the number of rows
   * of the embedding matrix (config `vocab_size`), which may exceed the tokenizer's ids (padding rows) or fall
   * short of them (ids past it are never shown). `tokenizerConfig` is tokenizer_config.json, if at hand.
   */
  static fromTokenizerJson(
    json: Uint8Array | string | Record<string, unknown>,
    vocabSize: number,
    tokenizerConfig: Record<string, unknown> = {},
    file = 'tokenizer.json',
  ): Vocab {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
      throw new CheckpointError(`vocab size must be a positive integer, got ${vocabSize}`);
    }
    let parsed: unknown = json;
    if (typeof json === 'string' || json instanceof Uint8Array) {
      const text = typeof json === 'string' ? json : new TextDecoder().decode(json);
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new CheckpointError(`${file} is not valid JSON: ${(e as Error).message}`, {
          hint: 're-download the model files',
          cause: e,
        });
      }
    }
    if (!isRecord(parsed) || !isRecord(parsed.model)) {
      throw new CheckpointError(`${file} has no "model" object`, {
        hint: 'imgtokens needs a Hugging Face tokenizers (fast tokenizer) tokenizer.json',
      });
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(parsed, tokenizerConfig);
    } catch (e) {
      throw new CheckpointError(`${file}: tokenizers.js could not load it: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return new Vocab(tokenizer, parsed as TokenizerJson, vocabSize);
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new RangeError(`token id ${id} is outside the vocabulary [0, ${this.size})`);
    }
  }

  /** The token's class (see {@link TokenClass}). */
  classOf(id: number): TokenClass {
    this.check(id);
    return CLASS_NAMES[this.classes[id]];
  }

  /** Special or added token, or a padding row without a token. */
  isSpecial(id: number): boolean {
    const c = this.classOf(id);
    return c === 'special' || c === 'added' || c === 'padding';
  }

  /** A byte-fallback piece such as `<0xE5>`. */
  isByte(id: number): boolean {
    return this.classOf(id) === 'byte';
  }

  /** The raw vocabulary piece (`▁the`, `<0xE5>`, `<image>`), or null for a padding row. */
  piece(id: number): string | null {
    this.check(id);
    return this.tokenizer.id_to_token(id) ?? null;
  }

  /**
   * `tokenizer.decode([id])` with special tokens kept and no clean-up (`▁the` → `the`, `<0xE5>` → U+FFFD);
   * `<id 32001>` for a padding row.
   */
  text(id: number): string {
    this.check(id);
    const cached = this.texts[id];
    if (cached !== undefined) return cached;
    const t: string =
      this.classes[id] === CLASS_CODE.padding
        ? `<id ${id}>`
        : this.tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    this.texts[id] = t;
    return t;
  }

  /**
   * A compact, unambiguous form for display: the piece with its spaces shown as ␣ (`▁the` → `␣the`,
   * `Ġthe` → `␣the`), newlines as ⏎, tabs as ⇥, other control characters escaped (`\x07`), byte pieces and
   * incomplete UTF-8 as `<0xE5>`, special tokens as their content, padding rows as `<id 32001>`.
   */
  display(id: number): string {
    this.check(id);
    let d = this.displays[id];
    if (d === undefined) {
      d = this.computeDisplay(id);
      this.displays[id] = d;
    }
    return d;
  }

  private computeDisplay(id: number): string {
    const cls = CLASS_NAMES[this.classes[id]];
    if (cls === 'special' || cls === 'added') return visibleText(this.text(id));
    const piece = this.tokenizer.id_to_token(id);
    if (cls === 'padding' || piece === undefined) return `<id ${id}>`;
    const byte = bytePieceValue(piece);
    if (cls === 'byte' && byte !== null) return bytePiece(byte);
    switch (this.style.kind) {
      case 'metaspace':
        return visibleText(piece.split(this.style.marker).join(' '));
      case 'bytelevel': {
        const bytes = byteLevelBytes(piece);
        return bytes ? displayBytes(bytes) : visibleText(this.text(id));
      }
      case 'decoded':
        return visibleText(this.text(id));
    }
  }

  /** A CC-CEDICT English gloss when the token's text contains Chinese characters (loads the dictionary once). */
  gloss(id: number): string | undefined {
    if (this.classOf(id) !== 'normal') return undefined;
    return cjkGloss(this.text(id));
  }

  /**
   * A mask over all rows, 1 = excluded: `special` drops special and added tokens and padding rows, `bytes`
   * drops byte-fallback pieces. Pass it to the lens so excluded rows never reach top-k or OMP.
   */
  excludeMask(kinds: readonly ExcludeKind[]): Uint8Array {
    const mask = new Uint8Array(this.size);
    const special = kinds.includes('special');
    const bytes = kinds.includes('bytes');
    for (let id = 0; id < this.size; id++) {
      const c = CLASS_NAMES[this.classes[id]];
      if ((special && (c === 'special' || c === 'added' || c === 'padding')) || (bytes && c === 'byte'))
        mask[id] = 1;
    }
    return mask;
  }
}
