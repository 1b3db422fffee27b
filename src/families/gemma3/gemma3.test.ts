// Gemma 3 against transformers 5.12.1 (test/fixtures/modern/tiny-gemma3, copied from fixtures-modern): every stored
// vision / projector stage from the fixture's own pixel_values, the pan-and-scan runs (crop boxes, both backends'
// pixels, features, layout), and one test per pitfall README-gemma.md names for Gemma 3: each deliberately wrong
// convention must fail the comparison. Tolerance: |d| / max(1, |want|) <= 1e-4 (fixtures-modern's rule).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { loadImage } from '../../image/decode.js';
import { Lens } from '../../lens/lens.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import { tensorToFloat32 } from '../../source/safetensors.js';
import { parseGemmaDecoderConfig } from '../../text/gemma-decoder.js';
import { f32Sqrt } from '../../text/models.js';
import { parseNpy } from '../../util/npy.js';
import { getFamily } from '../index.js';
import { parseGemma3Config } from './config.js';
import { gemma3ProcessorSpec } from './index.js';
import { gemma3Layout } from './layout.js';
import { gemma3Preprocess, panAndScanWindows, type Gemma3ProcessorSpec } from './processor.js';
import {
  buildGemma3VisionGraph,
  GEMMA3_STAGES,
  GEMMA3_VISION_NAMING,
  gemma3VisionTensorNames,
  type Gemma3VisionOptions,
} from './vision.js';
import { checkScaled, scaledDiff } from '../../../test/helpers/golden.js';

const DIR = 'test/fixtures/modern/tiny-gemma3';
const IMAGES = 'test/fixtures/modern/images';
const TOL = 1e-4;
const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const npy = (p: string) => parseNpy(readFileSync(p));
const f32 = (p: string) => npy(p).data as Float32Array;
const cfg = parseGemma3Config(new ConfigReader(json(`${DIR}/config.json`), DIR));
const RUNS = readdirSync(`${DIR}/expected`);
const PAS = readdirSync(`${DIR}/pan_and_scan`);
const runDir = (r: string) => join(DIR, r.endsWith('_pan_and_scan') ? 'pan_and_scan' : 'expected', r);
const imageOf = (r: string) => {
  const stem = r.replace(/_pan_and_scan$/, '');
  return join(
    IMAGES,
    readdirSync(IMAGES).find((f) => f.startsWith(stem))!,
  );
};

const check = (label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL): number =>
  checkScaled(label, got, want, tol);

function specOf(backend: 'pil' | 'torchvision', pas = false): Gemma3ProcessorSpec {
  const { spec } = gemma3ProcessorSpec(null, json(`${DIR}/processor_config.json`), cfg, backend, DIR);
  // the fixtures' call kwargs (expected.json preprocessing.call_kwargs)
  return pas ? { ...spec, panAndScan: { minCropSize: 16, maxNumCrops: 3, minRatioToActivate: 1.2 } } : spec;
}

async function visionSession(opts: Gemma3VisionOptions = {}): Promise<Session> {
  const src = new LocalSource(DIR);
  const tensors = await src.readTensors(gemma3VisionTensorNames(cfg, await src.tensorIndex(), DIR));
  return Session.create(buildGemma3VisionGraph(cfg, tensors, DIR, opts));
}

const STAGES = [GEMMA3_STAGES.lastHiddenState, GEMMA3_STAGES.pooled, GEMMA3_STAGES.normed];

describe('gemma3: vision and projector stages from the fixture pixels', () => {
  test('post_layernorm, pooled, normed, image_features within 1e-4 (single view and pan-and-scan)', async () => {
    const s = await visionSession({ expose: STAGES });
    for (const r of [...RUNS, ...PAS]) {
      const exp = runDir(r);
      const px = npy(join(exp, 'pixel_values.npy'));
      const out = await s.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
      check(
        `${r} vision_last_hidden_state`,
        out.f32(GEMMA3_STAGES.lastHiddenState).data,
        f32(join(exp, 'vision_last_hidden_state.npy')),
      );
      check(
        `${r} projector_pooled`,
        out.f32(GEMMA3_STAGES.pooled).data,
        f32(join(exp, 'projector_pooled.npy')),
      );
      check(
        `${r} projector_normed`,
        out.f32(GEMMA3_STAGES.normed).data,
        f32(join(exp, 'projector_normed.npy')),
      );
      check(`${r} image_features`, out.f32('crop_features').data, f32(join(exp, 'image_features.npy')));
    }
    await s.release();
  });

  test('pitfall: the projector norm as plain w (Gemma 4 convention) instead of (1 + w) fails', async () => {
    const s = await visionSession({ normScale: 'plain' });
    const exp = runDir('gradient_37x23');
    const px = npy(join(exp, 'pixel_values.npy'));
    const out = await s.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
    const d = scaledDiff(out.f32('crop_features').data, f32(join(exp, 'image_features.npy')));
    console.log(`  plain-w projector norm: maxdiff ${d.toExponential(2)}`);
    assert.ok(d > 100 * TOL, `the wrong norm should fail (maxdiff ${d})`);
    await s.release();
  });
});

describe('gemma3: pan-and-scan (call kwargs; the settings file never enables it)', () => {
  for (const r of PAS) {
    test(`${r}: crop boxes, pixels (PIL bit-exact, torchvision), layout boxes`, async () => {
      const exp = runDir(r);
      const meta = json(join(exp, 'expected.json')) as unknown as {
        geometry: { pan_and_scan_boxes_yxyx: number[][] };
        token_layout: number[][];
        special_tokens: { boi_positions: number[] };
      };
      const rgb = (await loadImage(imageOf(r))).image;
      const wins = panAndScanWindows(rgb, { minCropSize: 16, maxNumCrops: 3, minRatioToActivate: 1.2 });
      assert.deepEqual(
        wins.map((w) => [w.top, w.left, w.top + w.height, w.left + w.width]),
        meta.geometry.pan_and_scan_boxes_yxyx,
      );
      const pil = gemma3Preprocess(rgb, specOf('pil', true));
      check(`${r} pixel_values_pil (bit-exact)`, pil.pixelValues, f32(join(exp, 'pixel_values_pil.npy')), 0);
      const tv = gemma3Preprocess(rgb, specOf('torchvision', true));
      check(
        `${r} pixel_values (torchvision, bit-exact)`,
        tv.pixelValues,
        f32(join(exp, 'pixel_values.npy')),
        0,
      );
      const layout = gemma3Layout(tv, cfg.tokenGrid);
      assert.equal(layout.tokens.length, meta.token_layout.length);
      meta.token_layout.forEach((row, i) => {
        const t = layout.tokens[i];
        assert.equal(t.crop, row[1], `token ${i} crop`);
        assert.equal(t.source, row[2] * cfg.tokenGrid + row[3], `token ${i} source`);
        const got = [t.box!.y, t.box!.x, t.box!.y + t.box!.h, t.box!.x + t.box!.w];
        row
          .slice(-4)
          .forEach((v, j) =>
            assert.ok(Math.abs(got[j] - v) <= 1e-4, `token ${i} corner ${j}: ${got[j]} vs ${v}`),
          );
      });
      assert.deepEqual(
        layout.views.map((v) => v.name),
        ['base', 'grid'],
      );
      assert.equal(
        layout.specials!.length,
        2 * meta.special_tokens.boi_positions.length,
        'boi/eoi per block',
      );
    });
  }
});

describe('gemma3: lens matrices and conventions', () => {
  const src = new LocalSource(DIR);
  async function lensWith(o: { embedScale: number; normKind: 'rms' | 'rms1p' }): Promise<Lens> {
    const t = await src.readTensors([
      'language_model.model.embed_tokens.weight',
      'language_model.model.norm.weight',
    ]);
    const norm = t.get('language_model.model.norm.weight')!;
    return Lens.create({
      embed: t.get('language_model.model.embed_tokens.weight')!,
      normWeight: tensorToFloat32(norm),
      rmsEps: cfg.text.rmsNormEps,
      vocab: cfg.text.vocabSize,
      hidden: cfg.text.hiddenSize,
      ...o,
    });
  }
  const rowsDiffering = (got: Int32Array, want: Int32Array, n: number): number => {
    let d = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 10; j++) {
        if (got[i * 10 + j] !== want[i * 10 + j]) {
          d++;
          break;
        }
      }
    }
    return d;
  };

  test('pitfall: l2 against the raw embed_tokens (not x sqrt(H)) changes the top-10 of every row', async () => {
    const raw = await lensWith({ embedScale: 1, normKind: 'rms1p' });
    const scaled = await lensWith({ embedScale: f32Sqrt(cfg.text.hiddenSize), normKind: 'rms1p' });
    const exp = runDir('shapes_120x80');
    const feats = f32(join(exp, 'image_features.npy'));
    const n = 16;
    const want = npy(join(exp, 'topk_l2_scaled_ids.npy'));
    const wantIds = Int32Array.from(want.data as BigInt64Array, Number);
    const good = await scaled.run(feats, n, 'l2', 10);
    assert.equal(rowsDiffering(good.ids, wantIds, n), 0, 'scaled l2 matches l2_scaled');
    const bad = await raw.run(feats, n, 'l2', 10);
    const d = rowsDiffering(bad.ids, wantIds, n);
    console.log(`  raw-matrix l2: ${d}/${n} rows differ from l2_scaled`);
    assert.equal(d, n);
    await raw.release();
    await scaled.release();
  });

  test('pitfall: the logit lens without the final norm changes the top-10 of every row', async () => {
    const lens = await lensWith({ embedScale: f32Sqrt(cfg.text.hiddenSize), normKind: 'rms1p' });
    const exp = runDir('portrait_45x90');
    const feats = f32(join(exp, 'image_features.npy'));
    const want = Int32Array.from(npy(join(exp, 'topk_lm_head_normed_ids.npy')).data as BigInt64Array, Number);
    assert.equal(rowsDiffering((await lens.run(feats, 16, 'logit', 10)).ids, want, 16), 0);
    const d = rowsDiffering((await lens.run(feats, 16, 'logit-raw', 10)).ids, want, 16);
    console.log(`  no final norm: ${d}/16 rows differ`);
    assert.equal(d, 16);
    await lens.release();
  });

  test('pitfall: the logit lens with plain w (not 1 + w) changes the top-10', async () => {
    const wrong = await lensWith({ embedScale: f32Sqrt(cfg.text.hiddenSize), normKind: 'rms' });
    const exp = runDir('checker_64x64');
    const feats = f32(join(exp, 'image_features.npy'));
    const want = Int32Array.from(npy(join(exp, 'topk_lm_head_normed_ids.npy')).data as BigInt64Array, Number);
    const got = await wrong.run(feats, 16, 'logit', 10);
    const d = rowsDiffering(got.ids, want, 16);
    console.log(`  plain-w final norm: ${d}/16 rows differ`);
    assert.ok(d >= 12, `${d} rows differ`);
    await wrong.release();
  });
});

describe('gemma3: config, processor settings, tensor names', () => {
  test('decoder shape for the deep lens: query_pre_attn_scalar, layer types, per-type rope (both spellings)', () => {
    const t = new ConfigReader(json(`${DIR}/config.json`), DIR).sub('text_config');
    const d = parseGemmaDecoderConfig(t, 'gemma3_text');
    assert.equal(d.attentionScale, 24 ** -0.5);
    assert.deepEqual(d.layerTypes, ['sliding_attention', 'full_attention']);
    assert.deepEqual(d.rope.full_attention, {
      ropeType: 'linear',
      theta: 1e6,
      factor: 8,
      partialRotaryFactor: 1,
    });
    assert.equal(d.rope.sliding_attention.theta, 1e4);
    assert.equal(d.finalLogitSoftcapping, null);
    // a hub-style (4.50) config: rope_scaling + rope_local_base_freq + sliding_window_pattern
    const hub = parseGemmaDecoderConfig(
      new ConfigReader(
        {
          num_hidden_layers: 12,
          rope_scaling: { rope_type: 'linear', factor: 8 },
          rope_local_base_freq: 10000,
          sliding_window_pattern: 6,
          final_logit_softcapping: 30,
        },
        'hub',
      ),
      'gemma3_text',
    );
    assert.deepEqual(
      hub.layerTypes.map((x, i) => (x === 'full_attention' ? i : -1)).filter((i) => i >= 0),
      [5, 11],
    );
    assert.deepEqual(hub.rope.full_attention, {
      ropeType: 'linear',
      theta: 1e6,
      factor: 8,
      partialRotaryFactor: 1,
    });
    assert.equal(hub.finalLogitSoftcapping, null, 'Gemma3ForConditionalGeneration never softcaps');
    assert.equal(hub.attentionScale, 256 ** -0.5);
  });

  test('do_pan_and_scan in the settings is ignored (as Gemma3Processor does) with a notice; image_seq_length checked', () => {
    const pc = json(`${DIR}/processor_config.json`);
    const ip = { ...(pc['image_processor'] as object), do_pan_and_scan: true } as Json;
    const { spec, notices } = gemma3ProcessorSpec(
      null,
      { ...pc, image_processor: ip },
      cfg,
      'torchvision',
      DIR,
    );
    assert.equal(spec.panAndScan, null);
    assert.match(notices.join('\n'), /do_pan_and_scan is ignored/);
    assert.throws(
      () => gemma3ProcessorSpec(null, { ...pc, image_seq_length: 64 }, cfg, 'torchvision', DIR),
      /image_seq_length 64 differs from mm_tokens_per_image 16/,
    );
  });

  test('tensor names: 5.12.1 vision_tower.*, hub vision_tower.vision_model.*, 4.5x model.* all resolve', () => {
    const logical = 'vision_tower.embeddings.patch_embedding.weight';
    for (const name of [
      'vision_tower.embeddings.patch_embedding.weight',
      'vision_tower.vision_model.embeddings.patch_embedding.weight',
      'model.vision_tower.vision_model.embeddings.patch_embedding.weight',
    ]) {
      assert.equal(
        GEMMA3_VISION_NAMING.resolve(logical, (n) => n === name),
        name,
      );
    }
  });

  test('pitfall: mm_input_projection_weight stored as a Linear weight [H, Hv] is refused by its shape', async () => {
    const index = new Map(await new LocalSource(DIR).tensorIndex());
    const name = 'multi_modal_projector.mm_input_projection_weight';
    index.set(name, { ...index.get(name)!, shape: [48, 32] });
    assert.throws(
      () => gemma3VisionTensorNames(cfg, index, DIR),
      /mm_input_projection_weight has shape \[48, 32\], expected \[32, 48\]/,
    );
  });

  test('registered family: tied (no lm_head read), (1 + w) norm, sqrt(H) embed scale', async () => {
    const src = new LocalSource(DIR);
    const fam = getFamily('gemma3', DIR).load({
      config: new ConfigReader(json(`${DIR}/config.json`), DIR),
      preprocessor: null,
      processorConfig: json(`${DIR}/processor_config.json`),
      index: await src.tensorIndex(),
      where: DIR,
    });
    assert.equal(fam.text.lmHead, null);
    assert.equal(fam.text.normKind, 'rms1p');
    assert.equal(fam.text.embedScale, Math.fround(Math.sqrt(48)));
    assert.equal(fam.text.vocabSize, 520, 'every embedding row, rows without a token included');
    assert.deepEqual(fam.views, ['base']);
  });
});
