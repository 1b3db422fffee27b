// Vocab: decodings against the fixtures' vocab_decoded.json (HF tokenizer.decode([id])), display forms,
// token classes, exclude masks and CC-CEDICT glosses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Vocab } from './vocab.js';
import { byteLevelBytes, displayBytes, visibleText } from './display.js';
import { parseCedict } from './gloss.js';

const FIXTURES = 'test/fixtures/llava';
const MODELS = ['tiny-llava', 'tiny-llava-next'] as const; // legacy / metaspace tokenizer.json styles

function load(model: string, vocabSize = 512): Vocab {
  const dir = `${FIXTURES}/${model}`;
  const cfg = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  return Vocab.fromTokenizerJson(readFileSync(`${dir}/tokenizer.json`), vocabSize, cfg);
}

for (const model of MODELS) {
  test(`${model}: all 512 decodings equal vocab_decoded.json`, () => {
    const v = load(model);
    const expected = (
      JSON.parse(readFileSync(`${FIXTURES}/${model}/expected/vocab_decoded.json`, 'utf8')) as {
        vocab: Array<{ id: number; piece: string; decoded: string }>;
      }
    ).vocab;
    assert.equal(expected.length, 512);
    let mismatches = 0;
    for (const e of expected) {
      if (v.text(e.id) !== e.decoded) mismatches++;
      assert.equal(v.piece(e.id), e.piece, `piece of id ${e.id}`);
    }
    assert.equal(mismatches, 0);
    assert.equal(v.tokenizerSize, 512);
  });

  test(`${model}: display forms`, () => {
    const v = load(model);
    const id = (piece: string): number => {
      for (let i = 0; i < v.size; i++) if (v.piece(i) === piece) return i;
      throw new Error(`no piece ${piece}`);
    };
    assert.equal(v.display(id('▁the')), '␣the');
    assert.equal(v.display(386), '␣'); // '▁' alone decodes to ""
    assert.equal(v.display(id('▁▁')), '␣␣');
    assert.equal(v.display(id('ing')), 'ing');
    assert.equal(v.display(id('▁天空')), '␣天空');
    assert.equal(v.display(3 + 0xe5), '<0xE5>'); // byte-fallback piece, decodes to U+FFFD
    assert.equal(v.display(3 + 0x0a), '<0x0A>'); // not merged with a real newline token
    assert.equal(v.display(3 + 0x41), '<0x41>'); // not merged with the piece 'A'
    assert.equal(v.display(id('A')), 'A');
    assert.equal(v.display(1), '<s>');
    assert.equal(v.display(510), '<image>');
    // Every display form is distinct: nothing merged silently.
    const seen = new Map<string, number>();
    for (let i = 0; i < v.size; i++) {
      const d = v.display(i);
      assert.ok(!seen.has(d), `ids ${seen.get(d)} and ${i} both display as ${JSON.stringify(d)}`);
      seen.set(d, i);
    }
  });

  test(`${model}: classes and exclude masks`, () => {
    const v = load(model);
    assert.equal(v.classOf(0), 'special'); // <unk>
    assert.equal(v.classOf(510), 'special'); // <image>, only in added_tokens
    assert.equal(v.classOf(3), 'byte');
    assert.equal(v.classOf(258), 'byte');
    assert.equal(v.classOf(259), 'normal');
    assert.ok(v.isSpecial(511) && !v.isByte(511));
    const special = v.excludeMask(['special']);
    const bytes = v.excludeMask(['bytes']);
    const both = v.excludeMask(['special', 'bytes']);
    const none = v.excludeMask([]);
    const ones = (m: Uint8Array): number[] => [...m.keys()].filter((i) => m[i] === 1);
    assert.deepEqual(ones(special), [0, 1, 2, 510, 511]);
    assert.equal(ones(bytes).length, 256);
    assert.equal(ones(bytes)[0], 3);
    assert.equal(ones(both).length, 261);
    assert.equal(ones(none).length, 0);
  });
}

test('padded vocabulary rows beyond the tokenizer get a placeholder and count as special', () => {
  const v = load('tiny-llava', 520);
  assert.equal(v.size, 520);
  assert.equal(v.tokenizerSize, 512);
  assert.equal(v.classOf(515), 'padding');
  assert.equal(v.text(515), '<id 515>');
  assert.equal(v.display(515), '<id 515>');
  assert.equal(v.piece(515), null);
  assert.equal(v.excludeMask(['special'])[519], 1);
  assert.throws(() => v.text(520), RangeError);
});

test('a vocabulary smaller than the tokenizer hides the extra ids', () => {
  const v = load('tiny-llava', 500);
  assert.equal(v.excludeMask(['special']).length, 500);
  assert.throws(() => v.display(510), RangeError);
});

test('visibleText escapes whitespace and control characters compactly', () => {
  assert.equal(visibleText(' a\tb\n'), '␣a⇥b⏎');
  assert.equal(visibleText('\u0007'), '\\x07');
  assert.equal(visibleText('\r'), '\\x0D');
  assert.equal(visibleText('\u00a0'), '\\xA0'); // NBSP is not a plain space
  assert.equal(visibleText('\u3000'), '\\u{3000}');
  assert.equal(visibleText('\u200b'), '\\u{200B}');
  assert.equal(visibleText('␣'), '\\u{2423}'); // a literal marker is not mistaken for a space
  assert.equal(visibleText(''), '∅');
  assert.equal(visibleText('\uFFFD'), '\uFFFD');
});

test('byte-level (GPT-2 style) pieces: spaces and incomplete UTF-8', () => {
  const b = (piece: string): string => {
    const bytes = byteLevelBytes(piece);
    assert.ok(bytes);
    return displayBytes(bytes);
  };
  assert.equal(b('Ġthe'), '␣the');
  assert.equal(b('Ċ'), '⏎');
  assert.equal(b('ĠĠ'), '␣␣');
  assert.equal(b('å¤©'), '天'); // E5 A4 A9
  assert.equal(b('å¤'), '<0xE5><0xA4>'); // first two bytes of 天: incomplete, shown as bytes
  assert.equal(b('©'), '<0xA9>');
  assert.equal(b('Ã©'), 'é');
  assert.equal(b('ä¸Ń'), '中');
  assert.equal(byteLevelBytes('天'), null); // not a byte-level piece
});

test('CC-CEDICT glosses', () => {
  const v = load('tiny-llava-next');
  const id = (piece: string): number => {
    for (let i = 0; i < v.size; i++) if (v.piece(i) === piece) return i;
    throw new Error(`no piece ${piece}`);
  };
  assert.match(v.gloss(id('天')) ?? '', /\bsky\b/);
  assert.match(v.gloss(id('▁天空')) ?? '', /\bsky\b/);
  assert.match(v.gloss(id('▁中国')) ?? '', /China/);
  assert.match(v.gloss(id('猫')) ?? '', /\bcat\b/);
  assert.equal(v.gloss(id('▁the')), undefined);
  assert.equal(v.gloss(id('▁です')), undefined); // kana: not Chinese
  assert.equal(v.gloss(3 + 0xe5), undefined); // byte piece
});

test('parseCedict prefers common readings and skips cross references', () => {
  const d = parseCedict(
    [
      '# comment',
      '中 中 [Zhong1] /China/Chinese/surname Zhong/',
      '中 中 [zhong1] /within/among/in/middle/',
      '䶮 䶮 [yan3] /variant of 龑|龑[yan3]/',
      '貓 猫 [mao1] /cat/CL:隻|只[zhi1]/',
    ].join('\n'),
  );
  assert.equal(d.get('中'), 'within; among; in');
  assert.equal(d.get('猫'), 'cat');
  assert.equal(d.get('貓'), 'cat');
  assert.equal(d.get('䶮'), 'variant of 龑|龑[yan3]');
});
