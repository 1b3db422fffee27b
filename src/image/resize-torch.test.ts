// torchvision-backend resize: invariants of torch's int16 fixed-point kernel and how it relates to Pillow's. Its
// bit-exactness against transformers 5.12.1 is checked on the fixture images (test/conformance.test.ts, Idefics3 /
// SmolVLM default backend).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbImage } from '../types.js';
import { resizePillow } from './resize.js';
import { resizeTorchvision, toPixelValuesFused } from './resize-torch.js';

function ramp(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const x = i % w;
    const y = Math.floor(i / w);
    data.set([(x * 255) / (w - 1), (y * 255) / (h - 1), (x * 37 + y * 91) % 256], i * 3);
  }
  return { width: w, height: h, data };
}

describe('resizeTorchvision', () => {
  it('a constant image stays constant (weights sum to one in fixed point)', () => {
    const img = { width: 9, height: 6, data: new Uint8Array(9 * 6 * 3).fill(173) };
    for (const filter of ['bicubic', 'bilinear', 'lanczos'] as const) {
      for (const [w, h] of [
        [4, 3],
        [20, 13],
        [9, 11],
      ]) {
        const out = resizeTorchvision(img, w, h, filter);
        assert.ok(
          out.data.every((v) => v === 173),
          `${filter} ${w}x${h}`,
        );
      }
    }
  });

  it('differs from Pillow only by the weight precision: at most a few levels, on some values', () => {
    const img = ramp(37, 23);
    let differing = 0;
    let max = 0;
    for (const [w, h] of [
      [96, 60],
      [16, 10],
    ]) {
      const a = resizeTorchvision(img, w, h, 'lanczos').data;
      const b = resizePillow(img, w, h, { filter: 'lanczos' }).data;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (d > 0) differing++;
        max = Math.max(max, d);
      }
    }
    assert.ok(differing > 0, 'the int16 weights round differently somewhere');
    assert.ok(max <= 3, `max difference ${max}`);
  });

  it('same size is a copy; no antialiased box/hamming kernel exists in torch', () => {
    const img = ramp(5, 4);
    const out = resizeTorchvision(img, 5, 4, 'bicubic');
    assert.notEqual(out.data, img.data);
    assert.deepEqual(out.data, img.data);
    assert.throws(() => resizeTorchvision(img, 3, 3, 'box'), /no antialiased "box"/);
  });

  it('fused normalisation: (x - mean/rescale) / (std/rescale) in float32', () => {
    const img = { width: 2, height: 1, data: new Uint8Array([0, 128, 255, 64, 127, 200]) };
    const out = new Float32Array(6);
    toPixelValuesFused(img, { rescaleFactor: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, out);
    const f = (v: number) => Math.fround(Math.fround(v - 127.5) / 127.5);
    assert.deepEqual([...out], [f(0), f(64), f(128), f(127), f(255), f(200)]); // CHW
  });
});
