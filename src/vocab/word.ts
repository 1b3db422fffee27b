/**
 * How a vocabulary word is shown, in one place for every output: the PNG, the HTML page, the terminal and the
 * web app's page (which loads this module as /vocab/word.js, so it imports nothing).
 */

// C0, DEL and C1 controls; bidi embeddings/overrides/isolates, zero-width and BOM, lone surrogates: invisible or
// able to reorder the text around them, so they are shown as escapes.
const INVISIBLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udfff]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * The readable form of a vocabulary word: control and invisible characters become escapes (`\x07`, `\u{200B}`),
 * a word made only of spaces becomes `␣` per space, surrounding spaces of other words are dropped. The empty
 * word stays empty (nothing is drawn for it).
 */
export function displayWord(text: string): string {
  if (text === '') return '';
  if (/^ +$/u.test(text)) return '␣'.repeat(Math.min(text.length, 8));
  const escaped = text.replace(INVISIBLE, (c) => {
    if (c in NAMED) return NAMED[c];
    const cp = c.codePointAt(0) ?? 0;
    return cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16).toUpperCase()}}`;
  });
  const trimmed = escaped.trim();
  return trimmed === '' ? '␣' : trimmed;
}

/** As displayWord, but an empty word shows as ∅ (for lists, where a blank entry would look missing). */
export function displayWordOrEmpty(text: string): string {
  return displayWord(text) || '∅';
}
