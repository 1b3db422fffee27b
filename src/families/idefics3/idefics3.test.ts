// Idefics3 / SmolVLM against transformers 5.12.1 (test/fixtures/modern, copied from fixtures-modern): every stored
// vision stage from the fixture's own pixel_values, the NaViT position ids, both image backends, and one test per
// pitfall README-pixelshuffle.md names: each deliberately wrong convention must fail the comparison.
// Tolerance: |d| / max(1, |want|) <= 1e-4 (fixtures-modern's rule); maxdiffs are printed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { ConfigReader, type Json } from '../../config/reader.js';
import { loadImage } from '../../image/decode.js';
import { resizePillow } from '../../image/resize.js';
import { toPixelValues } from '../../image/transforms.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import type { RgbImage } from '../../types.js';
import { parseNpy } from '../../util/npy.js';
import { parseIdefics3Config, type Idefics3Config } from './config.js';
import { idefics3ProcessorSpec, idefics3 } from './index.js';
import { idefics3Layout } from './layout.js';
import {
  idefics3Geometry,
  idefics3Preprocess,
  longestEdgeSize,
  parseIdefics3ProcessorConfig,
  visionEncoderCanvas,
  type Idefics3ProcessorSpec,
} from './processor.js';
import {
  buildIdefics3VisionGraph,
  idefics3PositionIds,
  idefics3VisionTensorNames,
  type Idefics3VisionOptions,
} from './vision.js';
import { checkScaled, scaledDiff } from '../../../test/helpers/golden.js';

const ROOT = 'test/fixtures/modern';
const IMAGES = 'test/fixtures/arch/images';
const MODELS = [
  { dir: 'tiny-idefics3', type: 'idefics3', cls: 'Idefics3ImageProcessor', vision: 'idefics3_vision' },
  { dir: 'tiny-smolvlm', type: 'smolvlm', cls: 'SmolVLMImageProcessor', vision: 'smolvlm_vision' },
] as const;
const CASES = ['gradient_37x23.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
const TOL = 1e-4;

const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const npy = (p: string) => parseNpy(readFileSync(p));
const f32 = (p: string) => npy(p).data as Float32Array;
const stem = (f: string) => f.replace(/\.\w+$/, '');

const check = (label: string, got: ArrayLike<number>, want: ArrayLike<number>): number =>
  checkScaled(label, got, want, TOL);

function configOf(m: (typeof MODELS)[number]): Idefics3Config {
  return parseIdefics3Config(new ConfigReader(json(`${ROOT}/${m.dir}/config.json`), m.dir), m.vision);
}
function specOf(m: (typeof MODELS)[number], backend: 'pil' | 'torchvision'): Idefics3ProcessorSpec {
  const pc = json(`${ROOT}/${m.dir}/processor_config.json`);
  return parseIdefics3ProcessorConfig(pc['image_processor'] as Json, m.dir, m.cls, backend);
}

async function visionSession(m: (typeof MODELS)[number], opts: Idefics3VisionOptions = {}): Promise<Session> {
  const cfg = configOf(m);
  const src = new LocalSource(`${ROOT}/${m.dir}`);
  const tensors = await src.readTensors(idefics3VisionTensorNames(cfg, await src.tensorIndex(), m.dir));
  return Session.create(buildIdefics3VisionGraph(cfg, tensors, m.dir, opts));
}

async function rgbOf(file: string): Promise<RgbImage> {
  return (await loadImage(`${IMAGES}/${file}`)).image;
}

for (const m of MODELS) {
  describe(`${m.type}: vision stages from the fixture pixels`, () => {
    test('every stored stage within 1e-4 (patch embeds, hidden states, post_layernorm, shuffle, connector)', async () => {
      const cfg = configOf(m);
      const session = await visionSession(m, { stages: true });
      const L = cfg.vision.numHiddenLayers;
      for (const file of CASES) {
        const exp = join(ROOT, m.dir, 'expected', stem(file));
        const px = npy(join(exp, 'pixel_values.npy'));
        const out = await session.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
        const n = px.shape[1];
        const P = cfg.patchGrid ** 2;
        const D = cfg.vision.hiddenSize;
        check(
          `${file} vision_patch_embeds`,
          out.f32('vision_patch_embeds', [n, P, D]).data,
          f32(join(exp, 'vision_patch_embeds.npy')),
        );
        const hs = f32(join(exp, 'vision_hidden_states.npy')); // [L+1, n, P, D]
        for (let i = 0; i <= L; i++) {
          const want = hs.subarray(i * n * P * D, (i + 1) * n * P * D);
          check(
            `${file} vision_hidden_states[${i}]`,
            out.f32(`vision.hidden_states.${i}`, [n, P, D]).data,
            want,
          );
        }
        check(
          `${file} vision_last_hidden_state`,
          out.f32('vision_last_hidden_state').data,
          f32(join(exp, 'vision_last_hidden_state.npy')),
        );
        check(`${file} pixel_shuffle`, out.f32('pixel_shuffle').data, f32(join(exp, 'pixel_shuffle.npy')));
        check(
          `${file} connector_output`,
          out.f32('crop_features').data,
          f32(join(exp, 'connector_output.npy')),
        );
      }
      await session.release();
    });

    test('position ids: the fixture ids (identity here)', () => {
      const cfg = configOf(m);
      const want = npy(join(ROOT, m.dir, 'expected', 'shapes_120x80', 'vision_position_ids.npy'));
      const ids = idefics3PositionIds(cfg.patchGrid);
      for (let t = 0; t < want.shape[0]; t++) {
        const row = Array.from(want.data as BigInt64Array)
          .slice(t * ids.length, (t + 1) * ids.length)
          .map(Number);
        assert.deepEqual(ids, row, `tile ${t}`);
      }
    });

    test('backends: PIL and torchvision pixels differ as the fixture says; features stay close', async () => {
      const exp = join(ROOT, m.dir, 'expected', 'portrait_45x90');
      const meta = json(join(exp, 'expected.json'));
      const rgb = await rgbOf('portrait_45x90.jpg');
      const pil = idefics3Preprocess(rgb, specOf(m, 'pil')).pixelValues;
      const tv = idefics3Preprocess(rgb, specOf(m, 'torchvision')).pixelValues;
      let d = 0;
      let n = 0;
      for (let i = 0; i < pil.length; i++) {
        const x = Math.abs(pil[i] - tv[i]);
        if (x > 0) n++;
        d = Math.max(d, x);
      }
      const stated = meta['pixel_values_torchvision_vs_pil'] as {
        max_abs_diff: number;
        n_values_differing: number;
      };
      console.log(
        `  torchvision vs PIL pixel_values: max ${d.toExponential(3)} on ${n}/${pil.length} values`,
      );
      assert.ok(Math.abs(d - stated.max_abs_diff) < 1e-6, `max diff ${d} vs stated ${stated.max_abs_diff}`);
      assert.equal(n, stated.n_values_differing);
    });
  });
}

describe('idefics3 processor', () => {
  test('longest-edge resize upscales, +1 when odd; canvas rounds both sides up to whole tiles (aspect not kept)', () => {
    assert.deepEqual(longestEdgeSize({ width: 37, height: 23 }, 96), { width: 96, height: 60 }); // 59 + 1
    assert.deepEqual(longestEdgeSize({ width: 45, height: 90 }, 96), { width: 48, height: 96 });
    assert.deepEqual(visionEncoderCanvas({ width: 48, height: 96 }, 32), { width: 64, height: 96 });
    assert.deepEqual(longestEdgeSize({ width: 9000, height: 10 }, 10000).width, 4096);
  });

  test('geometry matches every fixture case (resized, canvas, grid, tiles)', async () => {
    for (const m of MODELS) {
      for (const file of CASES) {
        const meta = json(join(ROOT, m.dir, 'expected', stem(file), 'expected.json'));
        const g = meta['geometry'] as Record<string, unknown>;
        const rgb = await rgbOf(file);
        const geo = idefics3Geometry({ width: rgb.width, height: rgb.height }, specOf(m, 'pil'));
        assert.deepEqual(
          [geo.resized.height, geo.resized.width],
          g['resized_longest_edge_hw'],
          `${m.dir} ${file}`,
        );
        assert.deepEqual([geo.canvas.height, geo.canvas.width], g['canvas_hw']);
        assert.deepEqual([geo.rows, geo.cols, geo.tiles], [g['grid_rows'], g['grid_cols'], g['n_tiles']]);
      }
    }
  });

  test('settings nested in processor_config.json; SmolVLM class defaults; image_seq_len must match the model', () => {
    const m = MODELS[1];
    const cfg = configOf(m);
    const pc = json(`${ROOT}/${m.dir}/processor_config.json`);
    const info = {
      modelType: 'smolvlm',
      label: 'SmolVLM',
      exampleHubId: 'x',
      processorClass: m.cls,
      visionModelType: m.vision,
    };
    const ok = idefics3ProcessorSpec(pc['image_processor'] as Json, pc, cfg, info, 'torchvision', m.dir);
    assert.deepEqual([ok.spec.longestEdge, ok.spec.maxImageSize, ok.spec.resample], [108, 36, 'lanczos']);
    const d = parseIdefics3ProcessorConfig({}, 'x', 'SmolVLMImageProcessor', 'pil');
    assert.deepEqual([d.longestEdge, d.maxImageSize, d.imageMean], [2048, 512, [0.5, 0.5, 0.5]]);
    assert.throws(
      () =>
        idefics3ProcessorSpec(
          pc['image_processor'] as Json,
          { ...pc, image_seq_len: 16 },
          cfg,
          info,
          'pil',
          m.dir,
        ),
      /image_seq_len 16 differs/,
    );
  });

  test('an unsplit image: one tile, no grid, <fake><global-img> T x <image> <fake>', () => {
    const m = MODELS[0];
    const spec = { ...specOf(m, 'pil'), doImageSplitting: false };
    const rgb: RgbImage = { width: 10, height: 7, data: new Uint8Array(10 * 7 * 3).fill(90) };
    const pre = idefics3Preprocess(rgb, spec);
    assert.deepEqual(pre.shape, [1, 1, 3, 32, 32]);
    const layout = idefics3Layout({ width: 10, height: 7 }, pre.idefics3, { tileSize: 32, tokenGrid: 4 });
    assert.deepEqual(
      layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
      [['base', 4, 4, 0, 16]],
    );
    assert.deepEqual(
      layout.specials!.map((s) => [s.text, s.position]),
      [
        ['<fake_token_around_image>', 0],
        ['<global-img>', 1],
        ['<fake_token_around_image>', 18],
      ],
    );
    assert.deepEqual(layout.tokens[15].box, { x: 7.5, y: 5.25, w: 2.5, h: 1.75 });
  });
});

describe('pitfalls (README-pixelshuffle.md): each wrong convention fails the comparison', () => {
  const m = MODELS[0];
  const exp = (img: string) => join(ROOT, m.dir, 'expected', img);

  test('1. global image resized from the canvas, not from the original', async () => {
    const rgb = await rgbOf('portrait_45x90.jpg');
    const want = f32(join(exp('portrait_45x90'), 'pixel_values_pil.npy'));
    const per = 3 * 32 * 32;
    const right = idefics3Preprocess(rgb, specOf(m, 'pil')).pixelValues;
    const wrong = idefics3Preprocess(rgb, specOf(m, 'pil'), { globalFrom: 'original' }).pixelValues;
    assert.equal(scaledDiff(right, want), 0);
    const d = scaledDiff(wrong.subarray(6 * per), want.subarray(6 * per));
    console.log(`  global from the original: global tile maxdiff ${d.toFixed(4)}`);
    assert.ok(d > TOL);
  });

  test('2-3. small images are upscaled, the short edge made even, the canvas aspect not kept', async () => {
    const rgb = await rgbOf('gradient_37x23.png');
    const want = f32(join(exp('gradient_37x23'), 'pixel_values_pil.npy'));
    const M = 32;
    // The wrong conventions, each built from the same Pillow-exact pieces.
    const tilesOf = (canvas: RgbImage): Float32Array => {
      const rows = canvas.height / M;
      const cols = canvas.width / M;
      const out = new Float32Array((rows * cols + 1) * 3 * M * M);
      const norm = {
        doRescale: true,
        rescaleFactor: 1 / 255,
        doNormalize: true,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      };
      let k = 0;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const t = { width: M, height: M, data: new Uint8Array(M * M * 3) };
          for (let y = 0; y < M; y++)
            t.data.set(
              canvas.data.subarray(
                ((r * M + y) * canvas.width + c * M) * 3,
                ((r * M + y) * canvas.width + c * M + M) * 3,
              ),
              y * M * 3,
            );
          toPixelValues(t, norm, out, k++ * 3 * M * M);
        }
      toPixelValues(resizePillow(canvas, M, M, { filter: 'lanczos' }), norm, out, k * 3 * M * M);
      return out;
    };
    const via = (w: number, h: number, cw: number, ch: number) =>
      tilesOf(resizePillow(resizePillow(rgb, w, h, { filter: 'lanczos' }), cw, ch, { filter: 'lanczos' }));
    assert.equal(scaledDiff(via(96, 60, 96, 64), want), 0, 'the right chain reproduces the fixture');
    const noOddFix = via(96, 59, 96, 64); // int(96 / (37/23)) = 59 kept odd
    assert.ok(scaledDiff(noOddFix, want) > TOL, 'without +1 on the odd short edge');
    // Without the longest-edge upscale: 37x23 -> a 64x64 canvas, a 2x2 grid (5 tiles) instead of 2x3 (7).
    const noUpscale = idefics3Geometry({ width: 37, height: 23 }, { ...specOf(m, 'pil'), doResize: false });
    assert.deepEqual([noUpscale.rows, noUpscale.cols, noUpscale.tiles], [2, 2, 5]);
    assert.notEqual(noUpscale.tiles * 3 * M * M, want.length, 'the tile count differs from the fixture');
  });

  test('6. RGBA: alpha dropped, not composited on white', async () => {
    const rgb = await rgbOf('shapes_120x80.png');
    const rgba = new Uint8Array(rgb.width * rgb.height * 4);
    for (let i = 0; i < rgb.width * rgb.height; i++) {
      rgba.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = i % 3 === 0 ? 0 : 255; // every third pixel fully transparent
    }
    const png = await sharp(rgba, { raw: { width: rgb.width, height: rgb.height, channels: 4 } })
      .png()
      .toBuffer();
    const decoded = (await loadImage(new Uint8Array(png))).image;
    const want = f32(join(exp('shapes_120x80'), 'pixel_values_pil.npy'));
    assert.equal(scaledDiff(idefics3Preprocess(decoded, specOf(m, 'pil')).pixelValues, want), 0);
    const white = { ...rgb, data: rgb.data.map((v, j) => (Math.floor(j / 3) % 3 === 0 ? 255 : v)) };
    assert.ok(
      scaledDiff(idefics3Preprocess(white, specOf(m, 'pil')).pixelValues, want) > TOL,
      'composited on white',
    );
  });

  for (const [label, opts] of [
    ['7. pixel-shuffle order transposed (dc outer)', { shuffleOrder: 'dc-dr' }],
    ['8. post_layernorm skipped', { skipPostLayerNorm: true }],
  ] as Array<[string, Idefics3VisionOptions]>) {
    test(label, async () => {
      for (const mm of MODELS) {
        const session = await visionSession(mm, opts);
        const e = join(ROOT, mm.dir, 'expected', 'shapes_120x80');
        const px = npy(join(e, 'pixel_values.npy'));
        const out = await session.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
        const d = scaledDiff(out.f32('crop_features').data, f32(join(e, 'image_features.npy')));
        console.log(`  ${mm.dir}: image_features maxdiff ${d.toFixed(3)}`);
        assert.ok(d > TOL, `${label} must not reproduce the features`);
        await session.release();
      }
    });
  }

  test('10. "\\n\\n" is one token and markers are 1-based: positions of the global image in the prompt', () => {
    const meta = json(join(exp('portrait_45x90'), 'expected.json'));
    const nonImage = (meta['prompt'] as { non_image_tokens: Array<[number, number, string]> })
      .non_image_tokens;
    const layout = idefics3Layout(
      { width: 45, height: 90 },
      { rows: 3, cols: 2, canvas: { height: 96, width: 64 } },
      { tileSize: 32, tokenGrid: 4 },
    );
    const start = nonImage.find((t) => t[2] === '<fake_token_around_image>')![0];
    const global = layout.specials!.find((s) => s.text === '<global-img>')!;
    assert.equal(start + global.position, nonImage.find((t) => t[2] === '<global-img>')![0]);
    // Two separate newline tokens would put <global-img> one position later.
    const split = global.position + 1;
    assert.notEqual(start + split, nonImage.find((t) => t[2] === '<global-img>')![0]);
    assert.equal(layout.specials![1].text, '<row_1_col_1>');
  });
});

test('registered family: tied SmolVLM reads no lm_head; Idefics3 reads its own', async () => {
  for (const m of MODELS) {
    const src = new LocalSource(`${ROOT}/${m.dir}`);
    const index = await src.tensorIndex();
    const cfgJson = json(`${ROOT}/${m.dir}/config.json`);
    const pc = json(`${ROOT}/${m.dir}/processor_config.json`);
    const fam = (await import('../index.js')).getFamily(m.type, m.dir);
    const loaded = fam.load({
      config: new ConfigReader(cfgJson, m.dir),
      preprocessor: pc['image_processor'] as Json,
      processorConfig: pc,
      index,
      where: m.dir,
    });
    assert.equal(loaded.text.embed, 'model.text_model.embed_tokens.weight');
    assert.equal(loaded.text.lmHead, m.type === 'smolvlm' ? null : 'lm_head.weight');
    assert.ok(!loaded.visionTensorNames().some((n) => n.includes('text_model') || n.includes('lm_head')));
  }
  assert.equal(idefics3.modelType, 'idefics3');
});
