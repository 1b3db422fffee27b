// GotOcr2ImageProcessor as InternVLProcessor runs it, against transformers 5.12.1 (tiny-internvl of fixtures-modern,
// copied to test/fixtures/modern/tiny-internvl: processor_config.json and the pixel arrays only): the grid walk with
// its tie rule, the forced crop_to_patches, the thumbnail only past one tile, both backends bit for bit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Json } from '../../config/reader.js';
import { loadImage } from '../../image/decode.js';
import { parseNpy } from '../../util/npy.js';
import { gotOcr2Preprocess, gridCandidates, optimalGrid, parseGotOcr2ProcessorConfig } from './processor.js';

const DIR = 'test/fixtures/modern/tiny-internvl';
const IMAGES = 'test/fixtures/arch/images';
const CASES = ['checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];

function spec(backend: 'pil' | 'torchvision') {
  const pc = JSON.parse(readFileSync(`${DIR}/processor_config.json`, 'utf8')) as Json;
  return parseGotOcr2ProcessorConfig(pc['image_processor'] as Json, DIR, backend);
}

test('candidates in the fixture order; the saved crop_to_patches is false (the processor forces true)', () => {
  const meta = JSON.parse(readFileSync(`${DIR}/expected/checker_64x64/expected.json`, 'utf8')) as {
    geometry: { grid_selection: { candidates_cols_rows_in_order: number[][] } };
  };
  assert.deepEqual(gridCandidates(1, 12), meta.geometry.grid_selection.candidates_cols_rows_in_order);
  assert.equal(spec('pil').cropToPatchesSaved, false);
});

for (const file of CASES) {
  test(`${file}: grid, thumbnail and pixel_values bit-exact on both backends`, async () => {
    const name = file.replace(/\.\w+$/, '');
    const exp = `${DIR}/expected/${name}`;
    const g = (
      JSON.parse(readFileSync(`${exp}/expected.json`, 'utf8')) as { geometry: Record<string, unknown> }
    ).geometry;
    const rgb = (await loadImage(`${IMAGES}/${file}`)).image;
    assert.deepEqual(optimalGrid(rgb, spec('pil')), { cols: g['grid_cols'], rows: g['grid_rows'] });
    for (const [backend, suffix] of [
      ['pil', '_pil'],
      ['torchvision', ''],
    ] as const) {
      const pre = gotOcr2Preprocess(rgb, spec(backend));
      assert.equal(pre.thumbnail, g['thumbnail']);
      assert.equal(pre.shape[0], g['n_tiles']);
      const want = parseNpy(readFileSync(`${exp}/pixel_values${suffix}.npy`));
      assert.deepEqual(pre.shape, want.shape, `${backend} shape`);
      const w = want.data as Float32Array;
      let d = 0;
      for (let i = 0; i < w.length; i++) d = Math.max(d, Math.abs(pre.pixelValues[i] - w[i]));
      assert.equal(d, 0, `${name} ${backend}: pixel_values maxdiff ${d}`);
    }
  });
}

test('a 1x1 grid gives one tile and no thumbnail; an exact tie goes to the later grid only past half its area', () => {
  const s = { ...spec('pil'), minPatches: 1, maxPatches: 12 };
  const small = { width: 20, height: 20, data: new Uint8Array(20 * 20 * 3).fill(50) };
  // 20x20 < 0.5 * 32 * 32 * 4: the 2x2 tie is not taken
  assert.deepEqual(optimalGrid(small, s), { cols: 1, rows: 1 });
  const pre = gotOcr2Preprocess(small, s);
  assert.deepEqual([pre.shape[0], pre.thumbnail], [1, false]);
  assert.deepEqual(optimalGrid({ width: 64, height: 64 }, s), { cols: 2, rows: 2 });
});
