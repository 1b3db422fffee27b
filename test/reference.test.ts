// LoadOptions.reference / --reference: whose transformers behaviour the projector-level pipeline mirrors. The one
// image of the fixtures where 4.45.1 and 5.12.1 differ with the same (Pillow) backend is tiny-llava-next on
// shapes_120x80 (fixtures-modern README-v5-vs-v445: 5.x pads an odd difference floor before / ceil after).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadModel } from '../src/model.js';
import { parseNpy } from '../src/util/npy.js';

const MODEL = 'test/fixtures/llava/tiny-llava-next';
const IMAGE = 'test/fixtures/llava/images/shapes_120x80.png';
const npy = (p: string): Float32Array => parseNpy(readFileSync(p)).data as Float32Array;
const V4 = npy('test/fixtures/llava/tiny-llava-next/expected/shapes_120x80/pixel_values.npy');
const V5 = npy('test/fixtures/deep-v5/tiny-llava-next/shapes_120x80/pixel_values.npy'); // 5.12.1, Pillow backend

const differing = (a: Float32Array, b: Float32Array): number => {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
};

test('--reference v4 / v5: LLaVA-NeXT pixels equal each version bit for bit (the odd-padding rule)', async () => {
  assert.ok(differing(V4, V5) > 0, 'the two goldens differ on this image');
  for (const [opts, want, name] of [
    [{ reference: 'v4' as const }, V4, 'v4 (implies the Pillow backend)'],
    [{ reference: 'v5' as const, imageBackend: 'pil' as const }, V5, 'v5 with the Pillow backend'],
    [{ imageBackend: 'pil' as const }, V5, 'the default reference is v5'],
  ] as const) {
    const m = await loadModel(MODEL, opts);
    try {
      const f = await m.encode(IMAGE);
      assert.equal(differing(f.pixelValues, want), 0, name);
      assert.equal(m.info.reference, opts.reference ?? 'v5');
      assert.equal(m.info.imageBackend, 'pil');
    } finally {
      await m.close();
    }
  }
});

test('--reference v4 makes Pillow the default backend; an explicit backend still wins', async () => {
  const m = await loadModel(MODEL, { reference: 'v4', imageBackend: 'torchvision' });
  try {
    assert.equal(m.info.imageBackend, 'torchvision');
  } finally {
    await m.close();
  }
  const d = await loadModel(MODEL);
  try {
    assert.equal(d.info.imageBackend, 'torchvision');
    assert.equal(d.info.reference, 'v5');
  } finally {
    await d.close();
  }
});
