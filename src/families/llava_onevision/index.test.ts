// LLaVA-OneVision pieces the shipped fixture images do not exercise: the anyres_max_9 bilinear step (against the
// float64 formula the fixtures README gives), the interpolated layout of shapes_120x80 (22x32 -> 19x28, 615
// tokens, as the README's counts table), config and processor defaults, and the processor bit-exact on crops_uint8.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadImage } from '../../image/decode.js';
import { ConfigReader } from '../../config/reader.js';
import { anyresPreprocess } from '../../image/anyres.js';
import { anyresGridShape, tokenLayout } from '../../layout/layout.js';
import { parseNpy } from '../../util/npy.js';
import { parseLlavaOnevisionConfig } from './config.js';
import { bilinearResize, packOnevision } from './pack.js';
import { parseOnevisionProcessorConfig } from './processor.js';

const FIX = 'test/fixtures/arch/tiny-llava-onevision';
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));

/** The README's float64 formula: src = max((dst + 0.5) in/out - 0.5, 0), i1 = min(i0 + 1, in - 1), separable. */
function bilinear64(
  map: Float32Array,
  inH: number,
  inW: number,
  D: number,
  outH: number,
  outW: number,
): Float64Array {
  const tap = (o: number, n: number, m: number) => {
    const src = Math.max(((o + 0.5) * n) / m - 0.5, 0);
    const i0 = Math.floor(src);
    return { i0, i1: Math.min(i0 + 1, n - 1), l: src - i0 };
  };
  const out = new Float64Array(outH * outW * D);
  for (let y = 0; y < outH; y++)
    for (let x = 0; x < outW; x++) {
      const ty = tap(y, inH, outH);
      const tx = tap(x, inW, outW);
      for (let k = 0; k < D; k++) {
        const v = (r: number, c: number) => map[(r * inW + c) * D + k];
        const top = v(ty.i0, tx.i0) * (1 - tx.l) + v(ty.i0, tx.i1) * tx.l;
        const bot = v(ty.i1, tx.i0) * (1 - tx.l) + v(ty.i1, tx.i1) * tx.l;
        out[(y * outW + x) * D + k] = top * (1 - ty.l) + bot * ty.l;
      }
    }
  return out;
}

test('bilinearResize: torch float32 interpolate within 2e-5 of the float64 formula; same size is a copy', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 4 - 2;
  const [h, w, D] = [22, 32, 5];
  const map = Float32Array.from({ length: h * w * D }, rand);
  const got = bilinearResize(map, h, w, D, 19, 28);
  const want = bilinear64(map, h, w, D, 19, 28);
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  // torch rounds scale and the weights to float32 (values here span [-2, 2]; the README's 5e-6 is for the fixture's scale).
  assert.ok(m <= 2e-5, `maxdiff ${m}`);
  assert.deepEqual(bilinearResize(map, h, w, D, h, w), map);
});

test('config: OneVision defaults and vision_aspect_ratio as str.strip("anyres_max_")', () => {
  const cfg = parseLlavaOnevisionConfig(new ConfigReader(json(join(FIX, 'config.json')), 'config.json'));
  assert.deepEqual(
    [
      cfg.vision.modelType,
      cfg.vision.hiddenAct,
      cfg.vision.layerNormEps,
      cfg.featureLayer,
      cfg.strategy,
      cfg.anyresMax,
    ],
    ['siglip_vision_model', 'gelu_pytorch_tanh', 1e-6, -1, 'full', 9],
  );
  assert.deepEqual([cfg.text.modelType, cfg.text.vocabSize, cfg.text.rmsNormEps], ['qwen2', 520, 1e-6]);
  const bare = parseLlavaOnevisionConfig(
    new ConfigReader({ model_type: 'llava_onevision', vision_aspect_ratio: 'anyres_max_16' }, 'x'),
  );
  assert.deepEqual(
    [bare.vision.imageSize, bare.vision.patchSize, bare.vision.hiddenSize, bare.anyresMax],
    [336, 14, 1024, 16],
  );
  assert.equal(bare.gridPinpoints.length, 36);
  assert.throws(() =>
    parseLlavaOnevisionConfig(new ConfigReader({ model_type: 'x', vision_aspect_ratio: 'anyres' }, 'x')),
  );
});

test('processor: square crops without center crop, bit-exact crops_uint8 and pixel_values', async () => {
  const spec = parseOnevisionProcessorConfig(json(join(FIX, 'preprocessor_config.json')));
  assert.deepEqual(
    [spec.doCenterCrop, spec.cropSize, spec.imageMean],
    [false, { height: 32, width: 32 }, [0.5, 0.5, 0.5]],
  );
  for (const [img, file] of [
    ['gradient_37x23', 'gradient_37x23.png'],
    ['portrait_45x90', 'portrait_45x90.jpg'],
  ]) {
    const pre = anyresPreprocess((await loadImage(join('test/fixtures/arch/images', file))).image, spec);
    assert.deepEqual(
      pre.cropsUint8,
      npy(join(FIX, 'expected', img, 'crops_uint8.npy')).data,
      `${img} crops_uint8`,
    );
    assert.deepEqual(
      pre.pixelValues,
      npy(join(FIX, 'expected', img, 'pixel_values.npy')).data,
      `${img} pixel_values`,
    );
  }
});

test('shapes_120x80: 22x32 un-padded map interpolated to 19x28, 615 tokens, boxes tile the image', async () => {
  const spec = parseOnevisionProcessorConfig(json(join(FIX, 'preprocessor_config.json')));
  const pre = anyresPreprocess((await loadImage('test/fixtures/arch/images/shapes_120x80.png')).image, spec);
  const grid = { rows: 8, cols: 8 };
  const opts = { newline: true, anyresMax: 9 };
  const shape = anyresGridShape(pre.geometry, grid, opts);
  assert.deepEqual(
    [shape.keep, shape.interpolated, shape.rows, shape.cols],
    [{ top: 1, bottom: 23, left: 0, right: 32 }, true, 19, 28],
  );
  assert.ok(Math.abs(shape.ratio - 1.10554) < 1e-5);
  const layout = tokenLayout(pre.geometry, grid, opts);
  assert.equal(layout.tokens.length, 615);
  assert.deepEqual(
    layout.views.map((v) => [v.name, v.rows, v.cols, v.count]),
    [
      ['base', 8, 8, 64],
      ['grid', 19, 28, 19 * 29],
    ],
  );
  // The grid cells cover the whole image once: widths per row and heights per column sum to the image size.
  const cells = layout.tokens.filter((t) => t.view === 'grid' && t.kind === 'patch');
  const rowW = cells.filter((t) => t.row === 0).reduce((s, t) => s + t.box!.w, 0);
  const colH = cells.filter((t) => t.col === 0).reduce((s, t) => s + t.box!.h, 0);
  assert.ok(Math.abs(rowW - 120) < 1e-9 && Math.abs(colH - 80) < 1e-9, `${rowW} x ${colH}`);
  // Packing a map that is linear in (row, col) gives the bilinear samples of that plane (exact up to float32).
  const D = 2;
  const crops = pre.shape[0];
  const feats = new Float32Array(crops * 64 * D);
  for (let c = 1; c < crops; c++)
    for (let s = 0; s < 64; s++) {
      const gr = Math.floor((c - 1) / 4) * 8 + Math.floor(s / 8);
      const gc = ((c - 1) % 4) * 8 + (s % 8);
      feats.set([gr, gc], (c * 64 + s) * D);
    }
  const packed = packOnevision(feats, pre, layout, grid, D, new Float32Array([-1, -1]), opts);
  for (const t of cells) {
    const sy = 1 + Math.max(((t.row + 0.5) * 22) / 19 - 0.5, 0);
    const sx = Math.max(((t.col + 0.5) * 32) / 28 - 0.5, 0);
    assert.ok(Math.abs(packed[t.index * D] - sy) < 1e-5 && Math.abs(packed[t.index * D + 1] - sx) < 1e-5);
  }
});
