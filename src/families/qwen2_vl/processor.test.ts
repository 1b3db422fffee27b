// Qwen2VLImageProcessor against the transformers 4.45.1 dumps in test/fixtures/arch/tiny-qwen2-vl: smart_resize in
// every branch (banker's rounding included), the resized uint8 image and the flattened patch rows, bit-exact.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BadInputError } from '../../errors.js';
import { parseNpy } from '../../util/npy.js';
import { loadImage } from '../../image/decode.js';
import {
  parseQwen2VLProcessorConfig,
  qwen2vlGrid,
  qwen2vlPreprocess,
  roundHalfEven,
  smartResize,
} from './processor.js';

const FIX = 'test/fixtures/arch/tiny-qwen2-vl';
const IMAGES: Record<string, string> = {
  gradient_37x23: 'gradient_37x23.png',
  checker_64x64: 'checker_64x64.png',
  portrait_45x90: 'portrait_45x90.jpg',
};

const npy = (path: string) => parseNpy(new Uint8Array(readFileSync(path)));
const spec = () =>
  parseQwen2VLProcessorConfig(
    JSON.parse(readFileSync(join(FIX, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>,
  );

test('roundHalfEven is Python round', () => {
  assert.deepEqual(
    [0.5, 1.5, 2.5, 22.5, 23.5, 22.4, 22.6, 3].map(roundHalfEven),
    [0, 2, 2, 22, 24, 22, 23, 3],
  );
});

test('smart_resize: every branch as in the fixtures README', () => {
  const s = (h: number, w: number) => smartResize(h, w, 4, 1024, 4096);
  assert.deepEqual(s(90, 45), { height: 88, width: 44, branch: 'round' }); // 22.5 -> 22, not 23
  assert.deepEqual(s(23, 37), { height: 28, width: 44, branch: 'min_pixels' });
  assert.deepEqual(s(80, 120), { height: 52, width: 76, branch: 'max_pixels' });
  assert.deepEqual(s(64, 64), { height: 64, width: 64, branch: 'round' }); // area == max_pixels is allowed
  assert.throws(() => s(3, 100), BadInputError);
  assert.throws(() => smartResize(4, 1000, 4, 1, 1e9), BadInputError); // aspect ratio > 200
});

test('preprocessor_config: min/max_pixels read from the file, class defaults otherwise', () => {
  const p = spec();
  assert.deepEqual(
    [p.minPixels, p.maxPixels, p.patchSize, p.temporalPatchSize, p.mergeSize],
    [1024, 4096, 2, 2, 2],
  );
  assert.equal(p.resample, 'bicubic');
  const d = parseQwen2VLProcessorConfig({});
  assert.deepEqual([d.minPixels, d.maxPixels, d.patchSize], [56 * 56, 28 * 28 * 1280, 14]);
  const later = parseQwen2VLProcessorConfig({ size: { shortest_edge: 100, longest_edge: 200 } });
  assert.deepEqual([later.minPixels, later.maxPixels], [100, 200]);
});

for (const [name, file] of Object.entries(IMAGES)) {
  test(`${name}: resized uint8, pixel_values and grid bit-exact`, async () => {
    const exp = join(FIX, 'expected', name);
    const rgb = (await loadImage(join('test/fixtures/arch/images', file))).image;
    const pre = qwen2vlPreprocess(rgb, spec());
    const resized = npy(join(exp, 'resized_uint8.npy')); // [H, W, 3]
    const [H, W] = resized.shape;
    assert.deepEqual([pre.geometry.crops[0].height, pre.geometry.crops[0].width], [H, W]);
    const want = resized.data as Uint8Array;
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < H * W; i++)
        assert.equal(pre.cropsUint8[c * H * W + i], want[i * 3 + c], `resized px ${i} ch ${c}`);
    const px = npy(join(exp, 'pixel_values.npy'));
    assert.deepEqual(pre.shape, px.shape);
    assert.deepEqual(pre.pixelValues, px.data, 'pixel_values bit-exact');
    const thw = Array.from(npy(join(exp, 'image_grid_thw.npy')).data as BigInt64Array, Number);
    const g = qwen2vlGrid(pre, 2);
    assert.deepEqual([g.t, g.h, g.w], thw);
  });
}
