// Terminal output: protocol detection, the iTerm2 and kitty escape sequences, and the text-grid fallback.
/* eslint-disable no-control-regex -- escape sequences are what these tests check */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  detectInlineProtocol,
  iterm2Image,
  kittyImage,
  shouldShowInline,
  textGrid,
} from '../../src/render/terminal.js';
import { cellWidth } from '../../src/render/text.js';
import { makeResult } from './fixture.js';

const png = Buffer.from(Array.from({ length: 10000 }, (_, i) => (i * 37) % 256));

describe('terminal', () => {
  it('shows inline only on a TTY', () => {
    assert.equal(shouldShowInline({ isTTY: true }), true);
    assert.equal(shouldShowInline({ isTTY: false }), false);
    assert.equal(shouldShowInline({}), false);
  });

  it('detects the protocol from the environment, with overrides', () => {
    assert.equal(detectInlineProtocol({ TERM_PROGRAM: 'iTerm.app' }), 'iterm2');
    assert.equal(detectInlineProtocol({ TERM_PROGRAM: 'WezTerm' }), 'iterm2');
    assert.equal(detectInlineProtocol({ TERM: 'xterm-kitty' }), 'kitty');
    assert.equal(detectInlineProtocol({ KITTY_WINDOW_ID: '3', TERM: 'xterm-256color' }), 'kitty');
    assert.equal(detectInlineProtocol({ TERM: 'xterm-256color' }), 'text');
    assert.equal(
      detectInlineProtocol({ TERM_PROGRAM: 'iTerm.app', TMUX: '/tmp/tmux-0/default,1,0' }),
      'text',
    );
    assert.equal(detectInlineProtocol({ TERM: 'xterm-kitty', IMGTOKENS_INLINE: 'text' }), 'text');
    assert.equal(detectInlineProtocol({ IMGTOKENS_INLINE: 'kitty' }), 'kitty');
    assert.equal(detectInlineProtocol({ IMGTOKENS_INLINE: 'kitty' }, 'iterm2'), 'iterm2');
    assert.throws(() => detectInlineProtocol({}, 'sixel'), /unknown inline image protocol 'sixel'/);
  });

  it('iTerm2: one OSC 1337 File=inline=1 sequence with the size and base64 payload', () => {
    const s = iterm2Image(png, { name: 'x.png' });
    const m = /^\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]+)\x07\n$/.exec(s);
    assert.ok(m);
    const args = new Map(m[1].split(';').map((kv) => kv.split('=', 2) as [string, string]));
    assert.equal(args.get('inline'), '1');
    assert.equal(args.get('size'), String(png.length));
    assert.equal(Buffer.from(args.get('name') ?? '', 'base64').toString(), 'x.png');
    assert.deepEqual(Buffer.from(m[2], 'base64'), png);
  });

  it('kitty: chunks of at most 4096 base64 bytes, a=T,f=100 first, m=1 on all but the last', () => {
    const s = kittyImage(png);
    const chunks = [...s.matchAll(/\x1b_G([^;]*);([A-Za-z0-9+/=]*)\x1b\\/g)];
    assert.equal(chunks.length, Math.ceil((Math.ceil(png.length / 3) * 4) / 4096));
    assert.equal(s.replace(/\x1b_G[^;]*;[A-Za-z0-9+/=]*\x1b\\/g, ''), '\n');
    chunks.forEach((c, i) => {
      assert.ok(c[2].length <= 4096);
      const keys = c[1].split(',');
      if (i === 0) assert.ok(keys.includes('a=T') && keys.includes('f=100'));
      else
        assert.deepEqual(
          keys.filter((k) => !k.startsWith('m=')),
          [],
        );
      assert.ok(keys.includes(i === chunks.length - 1 ? 'm=0' : 'm=1'));
    });
    assert.deepEqual(Buffer.from(chunks.map((c) => c[2]).join(''), 'base64'), png);
  });

  it('text grid: words cut to the terminal width, CJK counted double, escapes visible', () => {
    const result = makeResult();
    for (const columns of [80, 40, 20]) {
      const text = textGrid(result, { columns });
      const lines = text.trimEnd().split('\n');
      assert.equal(lines.length, 1 + 6);
      for (const l of lines) assert.ok(cellWidth(l) <= columns, `${cellWidth(l)} > ${columns}: ${l}`);
    }
    const wide = textGrid(result, { columns: 80 });
    assert.match(wide, /^base view · 6×6 · top-1 by cosine$/m);
    assert.match(wide.split('\n')[1], /^天 +<b>& +\uFFFD +<0xE5> +\\x07 +/);
    assert.ok(wide.includes('</script><s…'));
    assert.equal(textGrid(result, { view: 'grid', columns: 200 }).trimEnd().split('\n').length, 1 + 9);
  });
});
