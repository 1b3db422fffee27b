// Golden tests: both fixture models x 4 images, crops_uint8 and pixel_values bit-exact against transformers 4.45.1,
// plus the anyres geometry recorded in expected.json.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CheckpointError, UnsupportedModelError } from '../../src/errors.js';
import { parseProcessorConfig, preprocessImage as preprocess } from '../../src/families/index.js';
import {
  LLAVA_NEXT_PROCESSOR_DEFAULTS,
  parseLlavaNextProcessorConfig,
} from '../../src/families/llava_next/processor.js';
import { anyresGeometry, selectBestResolution, type AnyresProcessorSpec } from '../../src/image/anyres.js';
import { shortestEdgeSize, type ClipProcessorSpec } from '../../src/image/clip.js';
import { decodeImage } from '../../src/image/decode.js';
import { parseNpy } from '../../src/util/npy.js';

const F = 'test/fixtures/llava';
const IMAGES = ['gradient_37x23.png', 'checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;

for (const model of ['tiny-llava', 'tiny-llava-next']) {
  describe(`${model} preprocessing`, () => {
    const spec = parseProcessorConfig(readJson(`${F}/${model}/preprocessor_config.json`));
    for (const file of IMAGES) {
      const name = file.replace(/\.\w+$/, '');
      const dir = `${F}/${model}/expected/${name}`;
      it(`${name}: crops_uint8 and pixel_values bit-exact`, async () => {
        const { image } = await decodeImage(`${F}/images/${file}`);
        const res = preprocess(image, spec);
        const cu = npy(`${dir}/crops_uint8.npy`);
        const pv = npy(`${dir}/pixel_values.npy`);
        // the fixtures keep the batch axis: [1, crops, 3, H, W] for NeXT, [1, 3, H, W] for LLaVA
        assert.deepEqual(res.shape, model === 'tiny-llava' ? [1, ...cu.shape.slice(1)] : cu.shape.slice(1));
        assert.deepEqual(res.cropsUint8, cu.data);
        const ref = pv.data as Float32Array;
        let maxdiff = 0;
        let bitDiffs = 0;
        for (let i = 0; i < ref.length; i++) {
          maxdiff = Math.max(maxdiff, Math.abs(ref[i] - res.pixelValues[i]));
          if (!Object.is(ref[i], res.pixelValues[i])) bitDiffs++;
        }
        assert.equal(bitDiffs, 0, `pixel_values maxdiff ${maxdiff}`);

        if (spec.type === 'LlavaNextImageProcessor') {
          const exp = readJson(`${dir}/expected.json`).anyres as Record<string, number[]> & {
            odd_padding_quirk: boolean;
            n_crops_including_base: number;
          };
          const a = res.geometry.anyres!;
          assert.deepEqual([a.bestResolution.height, a.bestResolution.width], exp.best_resolution_hw);
          assert.deepEqual([a.rows, a.cols], exp.crop_grid_rows_cols);
          assert.deepEqual([a.resized.height, a.resized.width], exp.resized_for_patching_hw);
          assert.deepEqual([a.pad.top, a.pad.bottom, a.pad.left, a.pad.right], exp.pad_top_bottom_left_right);
          assert.deepEqual([a.padded.height, a.padded.width], exp.padded_size_hw);
          assert.equal(a.oddPaddingQuirk, exp.odd_padding_quirk);
          assert.equal(res.geometry.crops.length, exp.n_crops_including_base);
        }
      });
    }
  });
}

describe('odd padding', () => {
  it("shapes_120x80: 4.45 pads 10+10 (63 px); 'extra-bottom-right' pads 10+11", async () => {
    const raw = readJson(`${F}/tiny-llava-next/preprocessor_config.json`);
    const quirk = parseProcessorConfig(raw) as AnyresProcessorSpec;
    const fixed = parseLlavaNextProcessorConfig(raw, 'p.json', { oddPadding: 'extra-bottom-right' });
    assert.equal(quirk.oddPadding, 'floor-both');
    const size = { height: 80, width: 120 };
    assert.deepEqual(anyresGeometry(size, quirk).padded, { height: 63, width: 64 });
    const g = anyresGeometry(size, fixed);
    assert.deepEqual(g.pad, { top: 10, bottom: 11, left: 0, right: 0 });
    assert.equal(g.oddPaddingQuirk, false);
    const { image } = await decodeImage(`${F}/images/shapes_120x80.png`);
    const a = preprocess(image, quirk);
    const b = preprocess(image, fixed);
    const per = 3 * 32 * 32;
    // base and top-row crops agree; the bottom-row crops differ (README: crops 3 and 4)
    assert.deepEqual(a.cropsUint8.subarray(0, 3 * per), b.cropsUint8.subarray(0, 3 * per));
    assert.notDeepEqual(a.cropsUint8.subarray(3 * per), b.cropsUint8.subarray(3 * per));
    // the quirk's 31-row crops went through a shortest-edge resize to 32x33 and a center crop
    assert.deepEqual(a.geometry.crops[3].region, { top: 32, left: 0, height: 31, width: 32 });
    assert.deepEqual(a.geometry.crops[3].resize, { height: 32, width: 33 });
    assert.deepEqual(b.geometry.crops[3].resize, null);
  });
});

describe('processor config parsing', () => {
  it('applies the class defaults for omitted fields', () => {
    const clip = parseProcessorConfig({ image_processor_type: 'CLIPImageProcessor' }) as ClipProcessorSpec;
    assert.equal(clip.type, 'CLIPImageProcessor');
    assert.deepEqual(clip.size, { shortestEdge: 224 });
    assert.deepEqual(clip.cropSize, { height: 224, width: 224 });
    assert.equal(clip.resample, 'bicubic');
    assert.deepEqual(clip.imageMean, [0.48145466, 0.4578275, 0.40821073]);
    const next = parseProcessorConfig({
      image_processor_type: 'LlavaNextImageProcessor',
      size: 336,
      crop_size: 336,
    }) as AnyresProcessorSpec;
    assert.equal(next.type, 'LlavaNextImageProcessor');
    assert.deepEqual(next.size, { shortestEdge: 336 });
    assert.deepEqual(next.cropSize, { height: 336, width: 336 });
    assert.deepEqual(
      (next as AnyresProcessorSpec).gridPinpoints,
      LLAVA_NEXT_PROCESSOR_DEFAULTS.gridPinpoints,
    );
  });

  it('reads SigLIP-style settings without CLIP constants leaking in', () => {
    const s = parseProcessorConfig({
      image_processor_type: 'CLIPImageProcessor',
      size: { height: 28, width: 28 },
      do_center_crop: false,
      resample: 2,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
    }) as ClipProcessorSpec;
    assert.deepEqual(s.size, { height: 28, width: 28 });
    assert.equal(s.resample, 'bilinear');
    const out = preprocess({ width: 45, height: 90, data: new Uint8Array(45 * 90 * 3).fill(255) }, s);
    assert.deepEqual(out.shape, [1, 3, 28, 28]);
    assert.ok(out.pixelValues.every((v) => v === 1));
    // squashed, no crop: the crop frame maps onto the whole image
    assert.deepEqual(out.geometry.crops[0].toOriginal, { sx: 45 / 28, sy: 90 / 28, tx: 0, ty: 0 });
  });

  it('refuses unknown processors and nearest resampling by name', () => {
    assert.throws(
      () => parseProcessorConfig({ image_processor_type: 'FooImageProcessor' }, 'm/preprocessor_config.json'),
      {
        name: 'UnsupportedModelError',
        message: 'm/preprocessor_config.json: image processor "FooImageProcessor" is not supported',
      },
    );
    assert.throws(() => parseProcessorConfig({ resample: 0 }), UnsupportedModelError);
    assert.throws(() => parseProcessorConfig({ image_mean: [0.5, 0.5] }), CheckpointError);
    assert.throws(
      () =>
        parseProcessorConfig({
          image_processor_type: 'LlavaNextImageProcessor',
          image_grid_pinpoints: [[1]],
        }),
      CheckpointError,
    );
  });
});

describe('size rules', () => {
  it('shortest edge truncates the long side', () => {
    assert.deepEqual(shortestEdgeSize({ width: 37, height: 23 }, 32), { width: 51, height: 32 });
    assert.deepEqual(shortestEdgeSize({ width: 120, height: 80 }, 32), { width: 48, height: 32 });
    assert.deepEqual(shortestEdgeSize({ width: 45, height: 90 }, 32), { width: 32, height: 64 });
  });
  it('select_best_resolution: most effective pixels, then least waste, then list order', () => {
    const pins = LLAVA_NEXT_PROCESSOR_DEFAULTS.gridPinpoints;
    assert.deepEqual(selectBestResolution({ width: 1000, height: 500 }, pins), { height: 336, width: 672 });
    assert.deepEqual(selectBestResolution({ width: 500, height: 1500 }, pins), { height: 1008, width: 336 });
    assert.deepEqual(selectBestResolution({ width: 700, height: 700 }, pins), { height: 672, width: 672 });
  });
});
