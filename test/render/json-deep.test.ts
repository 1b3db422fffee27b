// imgtokens.result/2: a result with the deep lens (ResultJson.deep) round-trips through serializeResult /
// parseResult, and the validator reports each way `deep` can be wrong with its JSON path.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResult, serializeResult, validateResult } from '../../src/render/json.js';
import type { DeepJson, ResultJson } from '../../src/types.js';
import { makeResult } from './fixture.js';

function deepResult(): ResultJson {
  const r = makeResult();
  const n = r.tokens.length;
  const k = 2;
  const row = (t: number, l: number) => [
    { id: (t + l) % 512, text: 'a', score: 2 },
    { id: (t + l + 1) % 512, text: 'b', score: 1 },
  ];
  const deep: DeepJson = {
    reference: 'v5',
    prompt: { text: 'USER: <image>\nq ASSISTANT:', ids: [1, ...Array(n).fill(510), 2], imagePositions: [] },
    numLayers: 2,
    k,
    layers: [0, 2].map((layer) => ({
      layer,
      logit: Array.from({ length: n }, (_, t) => row(t, layer)),
      embed: Array.from({ length: n }, (_, t) => row(t, layer + 7)),
    })),
    next: [
      { id: 5, text: 'x', score: 0.6 },
      { id: 6, text: 'y', score: 0.3 },
    ],
  };
  deep.prompt.imagePositions = Array.from({ length: n }, (_, i) => i + 1);
  return { ...r, schema: 'imgtokens.result/2', deep };
}

function broken(edit: (r: ResultJson & { deep: DeepJson }) => void): unknown {
  const r = structuredClone(deepResult()) as ResultJson & { deep: DeepJson };
  edit(r);
  return r;
}

describe('result JSON with the deep lens (imgtokens.result/2)', () => {
  it('is valid and round-trips', () => {
    const r = deepResult();
    assert.deepEqual(validateResult(r), []);
    const text = serializeResult(r);
    assert.deepEqual(parseResult(text), r);
    // one line per token and lens
    assert.ok(text.split('\n').length > 2 * 2 * r.tokens.length);
  });
  const cases: Array<[string, (r: ResultJson & { deep: DeepJson }) => void, RegExp]> = [
    [
      'schema /1 with deep',
      (r) => (r.schema = 'imgtokens.result/1'),
      /^schema: expected "imgtokens.result\/2"/,
    ],
    ['reference', (r) => ((r.deep as { reference: string }).reference = 'v6'), /^deep\.reference:/],
    ['layer order', (r) => (r.deep.layers[1]!.layer = 0), /^deep\.layers\[1\]\.layer: expected an ascending/],
    ['layer past numLayers', (r) => (r.deep.layers[1]!.layer = 3), /^deep\.layers\[1\]\.layer:/],
    ['rows per layer', (r) => r.deep.layers[0]!.logit.pop(), /^deep\.layers\[0\]\.logit: expected \d+ rows/],
    [
      'too many words',
      (r) => r.deep.layers[0]!.embed[3]!.push({ id: 1, text: 'z', score: 0 }),
      /embed\[3\]: expected at most k = 2/,
    ],
    [
      'id out of vocab',
      (r) => (r.deep.layers[1]!.logit[0]![0]!.id = 512),
      /^deep\.layers\[1\]\.logit\[0\]\[0\]\.id:/,
    ],
    [
      'next probability',
      (r) => (r.deep.next[0]!.score = 1.5),
      /^deep\.next\[0\]\.score: expected a probability/,
    ],
    [
      'positions count',
      (r) => r.deep.prompt.imagePositions.pop(),
      /^deep\.prompt\.imagePositions: expected \d+ positions/,
    ],
    [
      'position outside ids',
      (r) => (r.deep.prompt.imagePositions[0] = -1),
      /imagePositions\[0\]: expected an ascending position/,
    ],
  ];
  for (const [name, edit, re] of cases) {
    it(`reports ${name} with its path`, () => {
      const problems = validateResult(broken(edit));
      assert.ok(
        problems.some((p) => re.test(p)),
        `got: ${problems.join(' | ')}`,
      );
    });
  }
});
