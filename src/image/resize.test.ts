// Resampler tests. Bit-exactness against Pillow is checked on the fixtures' crops (processors.test.ts); these pin the
// algorithm's invariants and the pieces the fixtures do not reach (box, bilinear, same-size copy).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RgbImage } from '../types.js';
import { resizePillow } from './resize.js';
import { centerCropWindow, cropImage, padImage, toPixelValues } from './transforms.js';

function ramp(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = (x * 255) / Math.max(1, w - 1);
      data[i + 1] = (y * 255) / Math.max(1, h - 1);
      data[i + 2] = (x * 37 + y * 91) % 256;
    }
  return { width: w, height: h, data };
}

describe('resizePillow', () => {
  it('same size returns an equal copy', () => {
    const img = ramp(5, 4);
    const out = resizePillow(img, 5, 4);
    assert.notEqual(out.data, img.data);
    assert.deepEqual(out.data, img.data);
  });

  it('a constant image stays constant for every filter and size', () => {
    const img = { width: 7, height: 5, data: new Uint8Array(7 * 5 * 3).fill(200) };
    for (const filter of ['bicubic', 'bilinear', 'box', 'hamming', 'lanczos'] as const) {
      for (const [w, h] of [
        [3, 2],
        [16, 11],
        [7, 9],
      ]) {
        const out = resizePillow(img, w, h, { filter });
        assert.ok(
          out.data.every((v) => v === 200),
          `${filter} ${w}x${h}`,
        );
      }
    }
  });

  it('2x bilinear/box downscale averages pixel pairs (antialiased support)', () => {
    // one row: 0, 100, 200, 50 -> pairs average to 50 and 125
    const img = {
      width: 4,
      height: 1,
      data: new Uint8Array([0, 0, 0, 100, 100, 100, 200, 200, 200, 50, 50, 50]),
    };
    assert.deepEqual([...resizePillow(img, 2, 1, { filter: 'box' }).data], [50, 50, 50, 125, 125, 125]);
    // bilinear at scale 2 has support 2: taps at distance 0.5 and 1.5 weigh 3/4 and 1/4 before normalisation
    const bl = resizePillow(img, 2, 1, { filter: 'bilinear' });
    // x=0: centre 1, taps 0,1,2 with weights (0.75, 0.75, 0.25)/1.75 -> (0*0.75 + 100*0.75 + 200*0.25)/1.75 = 71.43 -> 71
    assert.equal(bl.data[0], 71);
  });

  it('bicubic upscaling overshoots and is clipped to 0..255', () => {
    const img = {
      width: 4,
      height: 1,
      data: new Uint8Array([0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]),
    };
    const out = resizePillow(img, 16, 1);
    assert.equal(Math.min(...out.data), 0);
    assert.equal(Math.max(...out.data), 255);
    // Keys a=-0.5 rings: some values next to the edge saturate rather than wrap around
    assert.ok(out.data.subarray(0, 6).every((v) => v === 0));
  });

  it('box = whole image equals no box; a sub-box scales only that region', () => {
    const img = ramp(12, 8);
    assert.deepEqual(resizePillow(img, 5, 3, { box: [0, 0, 12, 8] }).data, resizePillow(img, 5, 3).data);
    // box selecting the right half, at the same scale as its size, reproduces those pixels
    const half = resizePillow(img, 6, 8, { box: [6, 0, 12, 8] });
    assert.deepEqual(half.data, cropImage(img, { top: 0, left: 6, height: 8, width: 6 }).data);
  });

  it('is separable: resizing one axis leaves the other untouched', () => {
    const img = ramp(9, 6);
    const wOnly = resizePillow(img, 4, 6);
    assert.equal(wOnly.height, 6);
    const hOnly = resizePillow(img, 9, 3);
    assert.equal(hOnly.width, 9);
  });
});

describe('transforms', () => {
  it('center crop offsets use floor division; a larger crop zero-pads', () => {
    assert.deepEqual(centerCropWindow({ height: 32, width: 51 }, { height: 32, width: 32 }), {
      top: 0,
      left: 9,
      height: 32,
      width: 32,
    });
    const small = ramp(3, 3);
    const big = cropImage(small, centerCropWindow(small, { height: 6, width: 6 }));
    // transformers pads ceil((6-3)/2) = 2 before: the image sits at rows/cols 2..4
    assert.equal(big.data[0], 0);
    assert.deepEqual(
      [...big.data.subarray((2 * 6 + 2) * 3, (2 * 6 + 2) * 3 + 3)],
      [...small.data.subarray(0, 3)],
    );
  });

  it('pad adds black borders', () => {
    const out = padImage(ramp(2, 2), { top: 1, bottom: 0, left: 0, right: 2 });
    assert.deepEqual([out.width, out.height], [4, 3]);
    assert.ok(out.data.subarray(0, 12).every((v) => v === 0));
  });

  it('rescale in float64 then float32; normalize in float32', () => {
    const img = { width: 1, height: 1, data: new Uint8Array([255, 128, 0]) };
    const out = new Float32Array(3);
    toPixelValues(
      img,
      {
        doRescale: true,
        rescaleFactor: 1 / 255,
        doNormalize: true,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
      out,
    );
    assert.deepEqual([...out], [1, Math.fround(Math.fround(Math.fround(128 / 255) - 0.5) / 0.5), -1]);
  });
});
