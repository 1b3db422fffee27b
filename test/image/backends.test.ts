/**
 * transformers 5's two image-processor backends (src/image/backend.ts) on every family's processor.
 *   - Qwen2VLImageProcessor (Qwen2.5-VL, Qwen3-VL fixtures-modern): the torchvision backend's resized uint8 image and
 *     pixel_values are compared bit for bit with resized_uint8_torchvision.npy / pixel_values.npy (the default backend
 *     of transformers 5.12.1), the PIL backend with resized_uint8.npy / pixel_values_pil.npy.
 *   - The landed families (CLIP, anyres, OneVision, SigLIP, Qwen2-VL): no torchvision arrays were stored, but
 *     fixtures-modern/v5-vs-v445.json records, per model and image, how far transformers 5.12.1's default
 *     (torchvision) pixels are from its PIL pixels: "uint8 before rescale: default vs PIL" and "pixel_values:
 *     default(torchvision) vs PIL" (n_elements_differing, max_abs_diff). Our torchvision pixels against our PIL pixels
 *     (themselves bit-exact against the 4.45.1 goldens, test/conformance.test.ts) must give exactly those numbers.
 * Both 5.x backends put LLaVA-NeXT / OneVision's odd padding pixel after the image, so those run with
 * oddPadding 'extra-bottom-right' here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ImageBackend } from '../../src/api.js';
import { ConfigReader, type Json } from '../../src/config/reader.js';
import { parseProcessorConfig, preprocessImage } from '../../src/families/index.js';
import { parseQwen2_5VLConfig } from '../../src/families/qwen2_5_vl/config.js';
import { qwenVLProcessorSpec } from '../../src/families/qwen2_5_vl/index.js';
import { parseQwen3VLConfig } from '../../src/families/qwen3_vl/config.js';
import { centerCropWindowWith, toPixelValuesWith } from '../../src/image/backend.js';
import { loadImage } from '../../src/image/decode.js';
import type { PreprocessResult, ProcessorSpec } from '../../src/image/processor.js';
import { parseNpy } from '../../src/util/npy.js';

const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;

/** [H, W, 3] uint8 (the fixtures' resized image) against our [1, 3, H, W] crop. */
function hwcEqualsChw(hwc: ArrayLike<number>, chw: Uint8Array, h: number, w: number): number {
  let bad = 0;
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h * w; i++) if (hwc[i * 3 + c] !== chw[c * h * w + i]) bad++;
  return bad;
}

/** Elements that differ and the largest |a - b| (float32 subtraction, as numpy does on float32 arrays). */
function stats(a: ArrayLike<number>, b: ArrayLike<number>): { n: number; max: number } {
  assert.equal(a.length, b.length, 'lengths');
  let n = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) n++;
    const d = Math.abs(Math.fround(a[i] - b[i]));
    if (d > max) max = d;
  }
  return { n, max };
}

const IMAGE_FILES: Record<string, string> = {
  gradient_37x23: 'gradient_37x23.png',
  checker_64x64: 'checker_64x64.png',
  shapes_120x80: 'shapes_120x80.png',
  portrait_45x90: 'portrait_45x90.jpg',
};

async function rgbOf(dir: string, name: string) {
  return (await loadImage(join(dir, IMAGE_FILES[name]))).image;
}

describe('Qwen2VLImageProcessor, both backends, against transformers 5.12.1 (fixtures-modern)', () => {
  const MODELS = [
    { dir: 'test/fixtures/modern/tiny-qwen2_5-vl', family: 'qwen2_5_vl', parse: parseQwen2_5VLConfig },
    { dir: 'test/fixtures/modern/tiny-qwen3-vl', family: 'qwen3_vl', parse: parseQwen3VLConfig },
  ];
  for (const m of MODELS) {
    const cfg = m.parse(new ConfigReader(readJson(join(m.dir, 'config.json')), m.dir));
    const images = ['gradient_37x23', 'checker_64x64', 'shapes_120x80', 'portrait_45x90'].filter((i) => {
      try {
        readFileSync(join(m.dir, 'expected', i, 'expected.json'));
        return true;
      } catch {
        return false;
      }
    });
    for (const img of images) {
      test(`${m.family} ${img}: torchvision and PIL pixels bit-exact`, async () => {
        const rgb = await rgbOf('test/fixtures/modern/images', img);
        const exp = join(m.dir, 'expected', img);
        const backends: Array<[ImageBackend, string, string]> = [
          ['torchvision', 'resized_uint8_torchvision.npy', 'pixel_values.npy'],
          ['pil', 'resized_uint8.npy', 'pixel_values_pil.npy'],
        ];
        for (const [backend, u8File, pxFile] of backends) {
          const files = {
            preprocessor: null,
            processorConfig: readJson(join(m.dir, 'processor_config.json')),
            where: m.dir,
            imageBackend: backend,
          };
          const { spec, notices } = qwenVLProcessorSpec(files, cfg.vision, m.family);
          assert.equal((spec as { backend?: string }).backend, backend);
          assert.ok(
            notices.some((n) => n.includes(`${backend === 'pil' ? 'Pillow' : 'torchvision'} backend`)),
            'the notice names the backend',
          );
          const pre = preprocessImage(rgb, spec);
          const u8 = npy(join(exp, u8File));
          const [h, w] = u8.shape;
          assert.deepEqual([pre.geometry.crops[0].height, pre.geometry.crops[0].width], [h, w]);
          assert.equal(hwcEqualsChw(u8.data as Uint8Array, pre.cropsUint8, h, w), 0, `${backend} ${u8File}`);
          const px = npy(join(exp, pxFile));
          assert.deepEqual(pre.shape, px.shape, `${backend} pixel_values shape`);
          const s = stats(pre.pixelValues, px.data as Float32Array);
          assert.equal(s.n, 0, `${backend} ${pxFile}: ${s.n} values differ (max ${s.max})`);
        }
      });
    }
  }
});

interface StageStats {
  shape: number[];
  n_elements_differing: number;
  max_abs_diff: number;
  of: number;
}

describe('the landed families: our torchvision vs PIL pixels reproduce v5-vs-v445.json exactly', () => {
  const v5 = readJson('test/fixtures/modern/v5-vs-v445.json') as {
    models: Record<string, { images: Record<string, { stages: Record<string, StageStats> }> }>;
  };
  const DIRS: Record<string, { dir: string; images: string }> = {
    'tiny-llava': { dir: 'test/fixtures/llava/tiny-llava', images: 'test/fixtures/llava/images' },
    'tiny-llava-next': { dir: 'test/fixtures/llava/tiny-llava-next', images: 'test/fixtures/llava/images' },
    'tiny-llava-onevision': {
      dir: 'test/fixtures/arch/tiny-llava-onevision',
      images: 'test/fixtures/arch/images',
    },
    'tiny-paligemma': { dir: 'test/fixtures/arch/tiny-paligemma', images: 'test/fixtures/arch/images' },
    'tiny-qwen2-vl': { dir: 'test/fixtures/arch/tiny-qwen2-vl', images: 'test/fixtures/arch/images' },
    'tiny-llava-siglip': { dir: 'test/fixtures/arch/tiny-llava-siglip', images: 'test/fixtures/arch/images' },
  };
  test('every model of v5-vs-v445.json is covered', () => {
    assert.deepEqual(Object.keys(v5.models).sort(), Object.keys(DIRS).sort());
  });
  for (const [model, { dir, images }] of Object.entries(DIRS)) {
    const parsed = parseProcessorConfig(
      readJson(join(dir, 'preprocessor_config.json')),
      `${dir}/preprocessor_config.json`,
    );
    // transformers 5 (both backends) puts the odd anyres padding pixel bottom/right.
    const base = (
      'oddPadding' in parsed ? { ...parsed, oddPadding: 'extra-bottom-right' } : parsed
    ) as ProcessorSpec;
    const run = (rgb: Parameters<typeof preprocessImage>[0], backend: ImageBackend): PreprocessResult =>
      preprocessImage(rgb, { ...base, backend } as ProcessorSpec);
    for (const [img, rec] of Object.entries(v5.models[model].images)) {
      test(`${model} ${img}`, async () => {
        const rgb = await rgbOf(images, img);
        const tv = run(rgb, 'torchvision');
        const pil = run(rgb, 'pil');
        const u8want = rec.stages['uint8 before rescale: default vs PIL'];
        const pxwant = rec.stages['pixel_values: default(torchvision) vs PIL'];
        const u8 = stats(tv.cropsUint8, pil.cropsUint8);
        const px = stats(tv.pixelValues, pil.pixelValues);
        assert.equal(tv.cropsUint8.length, u8want.of, 'uint8 element count');
        assert.equal(tv.pixelValues.length, pxwant.of, 'pixel_values element count');
        assert.deepEqual(
          [u8.n, u8.max, px.n, px.max],
          [
            u8want.n_elements_differing,
            u8want.max_abs_diff,
            pxwant.n_elements_differing,
            pxwant.max_abs_diff,
          ],
          'uint8 (n differing, max |d|), pixel_values (n differing, max |d|)',
        );
      });
    }
  }
});

test('torchvision center crop: a larger crop pads (excess // 2) before, the PIL one ceil(excess / 2)', () => {
  const img = { height: 5, width: 8 };
  const crop = { height: 8, width: 5 };
  // height: excess 3 -> torchvision pads 1 before, PIL 2; width: crop inside, both floor((8 - 5) / 2) = 1.
  assert.deepEqual(centerCropWindowWith('torchvision', img, crop), { top: -1, left: 1, height: 8, width: 5 });
  assert.deepEqual(centerCropWindowWith('pil', img, crop), { top: -2, left: 1, height: 8, width: 5 });
});

test('torchvision rescale/normalize: fused when both flags are set, plain float32 steps otherwise', () => {
  const img = { width: 2, height: 1, data: new Uint8Array([0, 128, 255, 7, 200, 33]) };
  const norm = {
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.25, 0.3],
  };
  const out = new Float32Array(6);
  toPixelValuesWith('torchvision', img, norm, out);
  // (x - mean * 255) / (std * 255) with float32 mean' and std'.
  const m0 = Math.fround(Math.fround(0.5) * Math.fround(255));
  const s0 = Math.fround(Math.fround(0.2) * Math.fround(255));
  assert.equal(out[0], Math.fround(Math.fround(0 - m0) / s0));
  assert.equal(out[1], Math.fround(Math.fround(7 - m0) / s0));
  toPixelValuesWith('torchvision', img, { ...norm, doNormalize: false }, out);
  assert.equal(out[1], Math.fround(7 * Math.fround(1 / 255)));
  toPixelValuesWith('torchvision', img, { ...norm, doRescale: false, doNormalize: false }, out);
  assert.deepEqual(Array.from(out), [0, 7, 128, 200, 255, 33]);
});
