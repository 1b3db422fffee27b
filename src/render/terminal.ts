/**
 * Terminal output: the rendered PNG shown inline (iTerm2's OSC 1337 File protocol, also understood by WezTerm, or
 * the kitty graphics protocol, also understood by Ghostty), or a plain grid of words cut to the terminal width.
 * The caller decides whether to show anything: `shouldShowInline(process.stdout)` is false when stdout is not a TTY
 * (a pipe or file gets no escape sequences).
 *
 * Protocols: iTerm2 https://iterm2.com/documentation-images.html ; kitty
 * https://sw.kovidgoyal.net/kitty/graphics-protocol/ (f=100 PNG, a=T transmit and display, base64 payload in chunks
 * of at most 4096 bytes, m=1 on all chunks but the last). Inside tmux or screen neither passes through unless
 * forced, so detection answers 'text' there.
 */

import { BadInputError } from '../errors.js';
import type { ResultJson, ViewName } from '../types.js';
import { cellWidth, displayWord, truncateCells, viewGrid, viewTitle } from './text.js';

export type InlineProtocol = 'iterm2' | 'kitty' | 'text';

/** The environment variable that overrides detection: iterm2 | kitty | text | auto. */
export const INLINE_ENV = 'IMGTOKENS_INLINE';

/** True when `stream` is a terminal (anything else gets no inline image or colour sequences). */
export function shouldShowInline(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true;
}

/**
 * Which inline-image protocol the terminal speaks, from the environment. `override` (e.g. a CLI flag) wins, then
 * IMGTOKENS_INLINE, then: TERM_PROGRAM iTerm.app or WezTerm → iterm2; TERM xterm-kitty, KITTY_WINDOW_ID or
 * TERM_PROGRAM ghostty → kitty; otherwise (and inside tmux/screen) → text.
 */
export function detectInlineProtocol(
  env: Record<string, string | undefined> = process.env,
  override?: string,
): InlineProtocol {
  const forced = (override ?? env[INLINE_ENV] ?? 'auto').toLowerCase();
  if (forced === 'iterm2' || forced === 'kitty' || forced === 'text') return forced;
  if (forced !== 'auto' && forced !== '') {
    throw new BadInputError(`unknown inline image protocol '${forced}'`, {
      hint: `use one of: iterm2, kitty, text, auto (flag or ${INLINE_ENV})`,
    });
  }
  if (env.TMUX || (env.TERM ?? '').startsWith('screen')) return 'text';
  const program = env.TERM_PROGRAM ?? '';
  if (program === 'iTerm.app' || program === 'WezTerm') return 'iterm2';
  if (
    env.TERM === 'xterm-kitty' ||
    env.KITTY_WINDOW_ID ||
    program === 'ghostty' ||
    env.TERM === 'xterm-ghostty'
  ) {
    return 'kitty';
  }
  return 'text';
}

export interface InlineImageOptions {
  /** File name shown by iTerm2's download UI. */
  name?: string;
  /** Display width in terminal cells (default: the image's own size, capped by the terminal). */
  widthCells?: number;
}

/** The iTerm2 escape sequence that shows `png` inline, followed by a newline. */
export function iterm2Image(png: Uint8Array, options: InlineImageOptions = {}): string {
  const args = [`inline=1`, `size=${png.length}`, `preserveAspectRatio=1`];
  if (options.name) args.push(`name=${Buffer.from(options.name).toString('base64')}`);
  if (options.widthCells) args.push(`width=${Math.round(options.widthCells)}`);
  return `\x1b]1337;File=${args.join(';')}:${Buffer.from(png).toString('base64')}\x07\n`;
}

/** The kitty graphics escape sequences (chunked base64 PNG) that show `png` inline, followed by a newline. */
export function kittyImage(png: Uint8Array, options: InlineImageOptions = {}): string {
  const b64 = Buffer.from(png).toString('base64');
  const CHUNK = 4096;
  let out = '';
  for (let i = 0; i < b64.length || i === 0; i += CHUNK) {
    const more = i + CHUNK < b64.length ? 1 : 0;
    const keys =
      i === 0
        ? `a=T,f=100,q=2,${options.widthCells ? `c=${Math.round(options.widthCells)},` : ''}m=${more}`
        : `m=${more}`;
    out += `\x1b_G${keys};${b64.slice(i, i + CHUNK)}\x1b\\`;
  }
  return `${out}\n`;
}

/** The sequence for `protocol` ('text' has no image sequence: use textGrid). */
export function inlineImage(
  png: Uint8Array,
  protocol: Exclude<InlineProtocol, 'text'>,
  options?: InlineImageOptions,
): string {
  return protocol === 'kitty' ? kittyImage(png, options) : iterm2Image(png, options);
}

export interface TextGridOptions {
  /** Which view; default 'base'. */
  view?: ViewName;
  /** Terminal width in cells; default 80. Each line is at most this wide. */
  columns?: number;
}

/**
 * The view's top-1 words as a grid of equal-width cells separated by one space, each word cut with `…` to fit
 * (CJK counts two cells). Cells are at least 2 cells wide; a grid wider than the terminal is cut at the right edge.
 */
export function textGrid(result: ResultJson, options: TextGridOptions = {}): string {
  const columns = Math.max(10, options.columns ?? 80);
  const { view, grid } = viewGrid(result, options.view ?? 'base', (t) =>
    t.top.length ? displayWord(t.top[0].text) : '',
  );
  const cell = Math.max(2, Math.floor((columns + 1) / Math.max(view.cols, 1)) - 1);
  const lines = [truncateCells(`${viewTitle(view)} · top-1 by ${result.method}`, columns)];
  for (const row of grid) {
    const cells = row.map((w) => {
      const s = truncateCells(w, cell);
      return s + ' '.repeat(cell - cellWidth(s));
    });
    lines.push(truncateCells(cells.join(' ').trimEnd(), columns));
  }
  return `${lines.join('\n')}\n`;
}
