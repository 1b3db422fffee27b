/**
 * Display forms for vocabulary pieces: whitespace made visible but compact, control characters escaped, byte
 * pieces kept as `<0xE5>`. The aim is that two different tokens never look the same on screen, so nothing
 * that the model distinguishes is merged silently.
 */

/** Visible stand-ins for whitespace. A literal occurrence of one of these characters is escaped instead. */
export const VISIBLE = { space: '␣', newline: '⏎', tab: '⇥' } as const;

/** Shown for a token whose text is empty (e.g. an added token with empty content). */
export const EMPTY = '∅';

const MARKERS = new Set<string>([VISIBLE.space, VISIBLE.newline, VISIBLE.tab, EMPTY]);

function escapeCodePoint(cp: number): string {
  return cp <= 0xff
    ? `\\x${cp.toString(16).toUpperCase().padStart(2, '0')}`
    : `\\u{${cp.toString(16).toUpperCase()}}`;
}

/**
 * Makes whitespace and invisible characters visible: ' ' → ␣, '\n' → ⏎, '\t' → ⇥; other control, format
 * and separator characters (\r, NBSP, U+3000, zero-width space, U+FFFD stays as is) → `\xHH` / `\u{HHHH}`;
 * a literal ␣/⏎/⇥/∅ is escaped too so it cannot be mistaken for a stand-in.
 */
export function visibleText(s: string): string {
  if (s.length === 0) return EMPTY;
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === ' ') out += VISIBLE.space;
    else if (ch === '\n') out += VISIBLE.newline;
    else if (ch === '\t') out += VISIBLE.tab;
    else if (MARKERS.has(ch)) out += escapeCodePoint(cp);
    else if (/[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u.test(ch)) out += escapeCodePoint(cp);
    else out += ch;
  }
  return out;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte value of a SentencePiece byte-fallback piece such as `<0xE5>`, or null. */
export function bytePieceValue(piece: string): number | null {
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1], 16) : null;
}

/** `<0xE5>` for byte 0xE5. */
export function bytePiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/**
 * GPT-2's reversible byte → printable-character table, as in openai/gpt-2 `src/encoder.py` `bytes_to_unicode`
 * (https://github.com/openai/gpt-2/blob/9b63575ef42771a015060c964af2c3da4cf7c8ab/src/encoder.py#L9) and the
 * `ByteLevel` pre-tokenizer of HF tokenizers: printable Latin-1 bytes map to themselves, the rest to U+0100 + n.
 */
function byteLevelDecoderTable(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table = new Map<string, number>();
  bs.forEach((b, i) => table.set(String.fromCodePoint(cs[i]), b));
  return table;
}
let byteLevelTable: Map<string, number> | null = null;

/** The bytes a ByteLevel (GPT-2 style) piece stands for, or null when a character is outside the table. */
export function byteLevelBytes(piece: string): Uint8Array | null {
  byteLevelTable ??= byteLevelDecoderTable();
  const out: number[] = [];
  for (const ch of piece) {
    const b = byteLevelTable.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there does not start one. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  const need = b0 < 0x80 ? 1 : b0 >= 0xc2 && b0 <= 0xdf ? 2 : b0 >= 0xe0 && b0 <= 0xef ? 3 : 0;
  const len = need !== 0 ? need : b0 >= 0xf0 && b0 <= 0xf4 ? 4 : 0;
  if (len === 0 || i + len > bytes.length) return 0;
  for (let j = 1; j < len; j++) if ((bytes[i + j] & 0xc0) !== 0x80) return 0;
  // Overlong / surrogate / out-of-range checks for 3- and 4-byte forms.
  const b1 = bytes[i + 1];
  if (len === 3 && ((b0 === 0xe0 && b1 < 0xa0) || (b0 === 0xed && b1 >= 0xa0))) return 0;
  if (len === 4 && ((b0 === 0xf0 && b1 < 0x90) || (b0 === 0xf4 && b1 >= 0x90))) return 0;
  return len;
}

/**
 * Bytes to display text: valid UTF-8 runs are decoded and made visible; bytes that are not part of a complete
 * character (a token holding half of a multi-byte character) are shown as `<0xE5>`.
 */
export function displayBytes(bytes: Uint8Array): string {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += bytePiece(bytes[i]);
      i++;
    } else {
      out += visibleText(dec.decode(bytes.subarray(i, i + len)));
      i += len;
    }
  }
  return out.length === 0 ? EMPTY : out;
}
