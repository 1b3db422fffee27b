// InternVL against transformers 5.12.1 (test/fixtures/modern/tiny-internvl, copied from fixtures-modern): every stored
// vision stage from the fixture's own pixel_values, the layout against the prompt, and one test per InternVL pitfall
// README-pixelshuffle.md names (4, 5, 6, 7, 9, 10): each deliberately wrong convention must fail the comparison.
// Tolerance: |d| / max(1, |want|) <= 1e-4 (fixtures-modern's rule); maxdiffs are printed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { ConfigReader, type Json } from '../../config/reader.js';
import { loadImage } from '../../image/decode.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import { parseNpy } from '../../util/npy.js';
import { parseInternVLConfig, type InternVLConfig } from './config.js';
import { internvl, internvlProcessorSpec } from './index.js';
import { internvlLayout } from './layout.js';
import { gotOcr2Preprocess, gridCandidates, parseGotOcr2ProcessorConfig } from './processor.js';
import {
  buildInternVLVisionGraph,
  internvlVisionTensorNames,
  STAGES,
  type InternVLVisionOptions,
} from './vision.js';
import { checkScaled, scaledDiff } from '../../../test/helpers/golden.js';

const DIR = 'test/fixtures/modern/tiny-internvl';
const IMAGES = 'test/fixtures/arch/images';
const CASES = ['checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
const TOL = 1e-4;

const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const npy = (p: string) => parseNpy(readFileSync(p));
const f32 = (p: string) => npy(p).data as Float32Array;
const stem = (f: string) => f.replace(/\.\w+$/, '');
const exp = (img: string) => join(DIR, 'expected', img);

const check = (label: string, got: ArrayLike<number>, want: ArrayLike<number>): number =>
  checkScaled(label, got, want, TOL);

const configOf = (raw: Json = json(`${DIR}/config.json`)): InternVLConfig =>
  parseInternVLConfig(new ConfigReader(raw, DIR));
const specOf = (backend: 'pil' | 'torchvision') =>
  parseGotOcr2ProcessorConfig(json(`${DIR}/processor_config.json`)['image_processor'] as Json, DIR, backend);

async function visionSession(opts: InternVLVisionOptions = {}, cfg = configOf()): Promise<Session> {
  const src = new LocalSource(DIR);
  const tensors = await src.readTensors(internvlVisionTensorNames(cfg, await src.tensorIndex(), DIR));
  return Session.create(buildInternVLVisionGraph(cfg, tensors, DIR, opts));
}

async function featuresWith(opts: InternVLVisionOptions, img = 'shapes_120x80'): Promise<number> {
  const session = await visionSession(opts);
  const px = npy(join(exp(img), 'pixel_values.npy'));
  const out = await session.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
  const d = scaledDiff(out.f32('crop_features').data, f32(join(exp(img), 'image_features.npy')));
  await session.release();
  return d;
}

describe('internvl: config', () => {
  test('the fixture config and the class defaults (transformers 5.12.1)', () => {
    const c = configOf();
    assert.deepEqual(
      [c.vision.imageSize, c.vision.patchSize, c.patchGrid, c.scaleFactor, c.tokenGrid, c.imageTokenId],
      [32, 4, 8, 2, 4, 488],
    );
    assert.deepEqual([c.text.modelType, c.text.hiddenSize, c.tie], ['qwen2', 48, true]);
    const d = configOf({ model_type: 'internvl' });
    assert.deepEqual(
      [d.vision.imageSize, d.vision.patchSize, d.vision.hiddenSize, d.vision.numHiddenLayers, d.tokenGrid],
      [448, 14, 1024, 24, 16],
    );
    assert.deepEqual(
      [d.vision.normType, d.vision.useQkNorm, d.vision.attentionBias, d.vision.useMeanPooling, d.tie],
      ['layer_norm', false, false, true, true],
    );
    assert.equal(d.text.modelType, 'qwen2');
    const raw = json(`${DIR}/config.json`);
    const llama = configOf({ ...raw, text_config: { ...(raw['text_config'] as Json), model_type: 'llama' } });
    assert.deepEqual([llama.text.modelType, llama.text.hiddenSize], ['llama', 48]);
  });

  test('refuses what it cannot mirror, with the field named', () => {
    const raw = json(`${DIR}/config.json`);
    const vc = raw['vision_config'] as Json;
    assert.throws(() => configOf({ ...raw, downsample_ratio: 0.3 }), /downsample_ratio 0.3/);
    assert.throws(() => configOf({ ...raw, vision_feature_select_strategy: 'full' }), /full/);
    assert.throws(() => configOf({ ...raw, vision_feature_layer: [-1, -2] }), /list vision_feature_layer/);
    assert.throws(() => configOf({ ...raw, vision_feature_layer: -4 }), /out of range/);
    assert.throws(() => configOf({ ...raw, vision_config: { ...vc, image_size: [32, 48] } }), /square/);
    assert.throws(() => configOf({ ...raw, vision_config: { ...vc, norm_type: 'batch' } }), /norm_type/);
  });

  test('processor settings nested in processor_config.json; size and image_seq_length checked', () => {
    const c = configOf();
    const pc = json(`${DIR}/processor_config.json`);
    const ok = internvlProcessorSpec(null, pc, c, 'pil', DIR);
    assert.deepEqual([ok.spec.tile, ok.spec.maxPatches, ok.spec.resample], [32, 12, 'bicubic']);
    assert.throws(
      () => internvlProcessorSpec(null, { ...pc, image_seq_length: 64 }, c, 'pil', DIR),
      /image_seq_length 64/,
    );
    const big = {
      ...pc,
      image_processor: { ...(pc['image_processor'] as Json), size: { height: 64, width: 64 } },
    };
    assert.throws(
      () => internvlProcessorSpec(null, big, c, 'pil', DIR),
      /differs from vision_config.image_size/,
    );
  });
});

describe('internvl: vision stages from the fixture pixels', () => {
  test('every stored stage within 1e-4 (patch embeds, hidden states, selection, shuffle, projector)', async () => {
    const cfg = configOf();
    const session = await visionSession({ stages: true });
    const L = cfg.vision.numHiddenLayers;
    const P = cfg.patchGrid ** 2;
    const D = cfg.vision.hiddenSize;
    for (const file of CASES) {
      const e = exp(stem(file));
      const px = npy(join(e, 'pixel_values.npy'));
      const out = await session.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
      const n = px.shape[0];
      check(
        `${file} vision_patch_embeds`,
        out.f32(STAGES.patchEmbeds, [n, P, D]).data,
        f32(join(e, 'vision_patch_embeds.npy')),
      );
      const hs = f32(join(e, 'vision_hidden_states.npy')); // [L+1, n, 1+P, D]
      const per = n * (1 + P) * D;
      for (let i = 0; i <= L; i++) {
        const got = out.f32(STAGES.hiddenState(i), [n, 1 + P, D]).data;
        check(`${file} vision_hidden_states[${i}]`, got, hs.subarray(i * per, (i + 1) * per));
      }
      for (const [stage, file2] of [
        [STAGES.lastHiddenState, 'vision_last_hidden_state'],
        [STAGES.selected, 'vision_selected'],
        [STAGES.pixelShuffle, 'pixel_shuffle'],
        [STAGES.projectorLayerNorm, 'projector_layer_norm'],
        [STAGES.projectorLinear1, 'projector_linear_1'],
        ['crop_features', 'connector_output'],
      ]) {
        check(`${file} ${file2}`, out.f32(stage).data, f32(join(e, `${file2}.npy`)));
      }
    }
    await session.release();
  });

  test('the shuffle reads the fixture patch indices (token 0 <- patches 0, 1, 8, 9)', () => {
    const meta = json(join(exp('shapes_120x80'), 'expected.json'));
    const order = meta['pixel_shuffle_order'] as { source_patch_index_per_token_and_block: number[][] };
    const g = 8;
    const s = 2;
    const want = order.source_patch_index_per_token_and_block;
    want.forEach((blocks, tok) => {
      const R = Math.floor(tok / (g / s));
      const C = tok % (g / s);
      const mine = [0, 1].flatMap((dr) => [0, 1].map((dc) => (s * R + dr) * g + (s * C + dc)));
      assert.deepEqual(mine, blocks, `token ${tok}`);
    });
  });
});

describe('internvl: layout', () => {
  test('tiles then thumbnail, no separators, <img> ... </img>; boxes in original pixels', () => {
    for (const file of CASES) {
      const meta = json(join(exp(stem(file)), 'expected.json'));
      const g = meta['geometry'] as { grid_rows: number; grid_cols: number; input_hw: [number, number] };
      const [h, w] = g.input_hw;
      const layout = internvlLayout(
        { width: w, height: h },
        { rows: g.grid_rows, cols: g.grid_cols },
        { tileSize: 32, tokenGrid: 4 },
      );
      const rows = meta['token_layout'] as Array<Array<string | number>>;
      assert.equal(layout.tokens.length, rows.length);
      assert.deepEqual(
        layout.specials!.map((sp) => [sp.text, sp.before, sp.position]),
        [
          ['<img>', 0, 0],
          ['</img>', rows.length, rows.length + 1],
        ],
      );
      rows.forEach((r, i) => {
        const t = layout.tokens[i];
        assert.equal(t.view, r[3] === 'tile' ? 'grid' : 'base', `${file} token ${i} view`);
        const box = t.box!;
        const got = [box.x, box.y, box.x + box.w, box.y + box.h];
        r.slice(14).forEach((v, j) =>
          assert.ok(Math.abs(got[j] - Number(v)) <= 5.1e-5, `${file} token ${i} corner ${j}`),
        );
      });
    }
  });

  test('a 1 x 1 grid: one tile, no thumbnail, the base view only', () => {
    const rgb = { width: 20, height: 20, data: new Uint8Array(20 * 20 * 3).fill(50) };
    const pre = gotOcr2Preprocess(rgb, specOf('pil'));
    assert.deepEqual([pre.shape[0], pre.thumbnail, pre.geometry.crops[0].view], [1, false, 'base']);
    const layout = internvlLayout(rgb, { rows: 1, cols: 1 }, { tileSize: 32, tokenGrid: 4 });
    assert.deepEqual(
      layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
      [['base', 4, 4, 0, 16]],
    );
    assert.deepEqual(layout.tokens[15].box, { x: 15, y: 15, w: 5, h: 5 });
  });
});

describe('internvl pitfalls (README-pixelshuffle.md): each wrong convention fails the comparison', () => {
  test('4. crop_to_patches is forced true: the saved false gives one squashed tile', async () => {
    const rgb = (await loadImage(`${IMAGES}/shapes_120x80.png`)).image;
    const want = f32(join(exp('shapes_120x80'), 'pixel_values_pil.npy'));
    assert.equal(specOf('pil').cropToPatchesSaved, false);
    assert.equal(scaledDiff(gotOcr2Preprocess(rgb, specOf('pil')).pixelValues, want), 0);
    const alone = gotOcr2Preprocess(rgb, specOf('pil'), { cropToPatches: false });
    assert.deepEqual(alone.shape, [1, 3, 32, 32]);
    assert.notEqual(alone.pixelValues.length, want.length, 'one tile instead of 7');
  });

  test('5. thumbnail only past one tile; an exact grid tie goes to the later grid only past half its area', async () => {
    const rgb = (await loadImage(`${IMAGES}/checker_64x64.png`)).image;
    const spec = specOf('pil');
    const pre = gotOcr2Preprocess(rgb, spec);
    assert.deepEqual([pre.rows, pre.cols, pre.thumbnail, pre.shape[0]], [2, 2, true, 5]);
    assert.equal(scaledDiff(pre.pixelValues, f32(join(exp('checker_64x64'), 'pixel_values_pil.npy'))), 0);
    // The wrong rule (keep the first of equal aspect ratios) stays at (1, 1): one tile, not the fixture's 2 x 2 + 1.
    let best: [number, number] = [1, 1];
    let bestDiff = Infinity;
    for (const g of gridCandidates(spec.minPatches, spec.maxPatches)) {
      const d = Math.abs(rgb.width / rgb.height - g[0] / g[1]);
      if (d < bestDiff) [best, bestDiff] = [g, d];
    }
    assert.deepEqual(best, [1, 1]);
    assert.notDeepEqual([best[1], best[0]], [pre.rows, pre.cols]);
    // A 1 x 1 grid has no thumbnail (a thumbnail there would be a second copy of the same squashed image).
    const small = { width: 20, height: 20, data: new Uint8Array(20 * 20 * 3).fill(50) };
    assert.equal(gotOcr2Preprocess(small, spec).shape[0], 1);
  });

  test('6. RGBA: alpha dropped, not composited on white', async () => {
    const rgb = (await loadImage(`${IMAGES}/shapes_120x80.png`)).image;
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
    assert.equal(scaledDiff(gotOcr2Preprocess(decoded, specOf('pil')).pixelValues, want), 0);
    const white = { ...rgb, data: rgb.data.map((v, j) => (Math.floor(j / 3) % 3 === 0 ? 255 : v)) };
    assert.ok(
      scaledDiff(gotOcr2Preprocess(white, specOf('pil')).pixelValues, want) > TOL,
      'composited on white',
    );
  });

  for (const [label, opts] of [
    ['7. pixel-shuffle order transposed (dc outer)', { shuffleOrder: 'dc-dr' }],
    ['9a. CLS kept before the shuffle', { keepCls: true }],
  ] as Array<[string, InternVLVisionOptions]>) {
    test(label, async () => {
      const d = await featuresWith(opts);
      console.log(`  image_features maxdiff ${d.toFixed(3)}`);
      assert.ok(d > TOL, `${label} must not reproduce the features`);
    });
  }

  test('9b. projector LayerNorm eps 1e-5 (PyTorch default), not the vision 1e-6', async () => {
    const right = await featuresWith({});
    const wrong = await featuresWith({ projectorEps: 1e-6 });
    console.log(`  eps 1e-5: ${right.toExponential(2)}; eps 1e-6: ${wrong.toExponential(2)}`);
    assert.ok(wrong > right, 'the vision eps moves the features away from the fixture');
  });

  test('10. no separators between tiles: the thumbnail starts right after the last tile', () => {
    const meta = json(join(exp('portrait_45x90'), 'expected.json'));
    const nonImage = (meta['prompt'] as { non_image_tokens: Array<[number, number, string]> })
      .non_image_tokens;
    const start = nonImage.find((t) => t[2] === '<img>')![0];
    const end = nonImage.find((t) => t[2] === '</img>')![0];
    const layout = internvlLayout(
      { width: 45, height: 90 },
      { rows: 2, cols: 1 },
      { tileSize: 32, tokenGrid: 4 },
    );
    assert.equal(start + layout.specials![1].position, end);
    assert.deepEqual(
      layout.views.map((v) => [v.name, v.start, v.count]),
      [
        ['grid', 0, 32],
        ['base', 32, 16],
      ],
    );
  });
});

test('registered family: tied (no lm_head read), legacy names, nothing of the text model in the vision graph', async () => {
  const src = new LocalSource(DIR);
  const index = await src.tensorIndex();
  const pc = json(`${DIR}/processor_config.json`);
  const loaded = internvl.load({
    config: new ConfigReader(json(`${DIR}/config.json`), DIR),
    preprocessor: null,
    processorConfig: pc,
    index,
    where: DIR,
  });
  assert.equal(loaded.text.embed, 'language_model.model.embed_tokens.weight');
  assert.equal(loaded.text.lmHead, null);
  assert.deepEqual(loaded.views, ['grid', 'base']);
  const names = loaded.visionTensorNames();
  assert.ok(names.includes('vision_tower.encoder.layer.1.lambda_2'));
  assert.ok(!names.some((n) => n.startsWith('language_model')));
});
