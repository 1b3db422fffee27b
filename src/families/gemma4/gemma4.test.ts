// Gemma 4 (image path) against transformers 5.12.1 (test/fixtures/modern/tiny-gemma4, copied from fixtures-modern):
// every stored vision stage from the fixture's own pixel_values and image_position_ids, the resize geometry and the
// patchify / position conventions, and one test per pitfall README-gemma.md names for Gemma 4: each deliberately
// wrong convention must fail the comparison. Tolerance: |d| / max(1, |want|) <= 1e-4 (fixtures-modern's rule).
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
import { f32Sqrt } from '../../text/models.js';
import { parseNpy } from '../../util/npy.js';
import { getFamily } from '../index.js';
import { parseGemma4Config } from './config.js';
import { gemma4ProcessorSpec } from './index.js';
import { gemma4Preprocess, gemma4TargetSize, parseGemma4ProcessorConfig } from './processor.js';
import {
  buildGemma4VisionGraph,
  GEMMA4_STAGES,
  gemma4VisionTensorNames,
  POOL_GRID_INPUT,
  POSITION_INPUT,
  type Gemma4VisionOptions,
} from './vision.js';
import { checkScaled, scaledDiff } from '../../../test/helpers/golden.js';

const DIR = 'test/fixtures/modern/tiny-gemma4';
const IMAGES = 'test/fixtures/modern/images';
const TOL = 1e-4;
const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const npy = (p: string) => parseNpy(readFileSync(p));
const f32 = (p: string) => npy(p).data as Float32Array;
const ints = (p: string) => Int32Array.from(npy(p).data as BigInt64Array, Number);
const cfg = parseGemma4Config(new ConfigReader(json(`${DIR}/config.json`), DIR));
const RUNS = readdirSync(`${DIR}/expected`);
const exp = (r: string) => join(DIR, 'expected', r);
const imageOf = (r: string) =>
  join(
    IMAGES,
    readdirSync(IMAGES).find((f) => f.startsWith(r))!,
  );
interface Geo {
  resized_hw: [number, number];
  patch_grid_rows_cols: [number, number];
  n_real_patches: number;
}
const geoOf = (r: string) => (json(join(exp(r), 'expected.json')) as unknown as { geometry: Geo }).geometry;

const check = (label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL): number =>
  checkScaled(label, got, want, tol);

async function visionSession(opts: Gemma4VisionOptions = {}): Promise<Session> {
  const src = new LocalSource(DIR);
  const tensors = await src.readTensors(gemma4VisionTensorNames(cfg, await src.tensorIndex(), DIR));
  return Session.create(buildGemma4VisionGraph(cfg, tensors, DIR, opts));
}

/** The fixture's processor outputs as the graph's feeds (real patches only). */
function feedsOf(r: string) {
  const g = geoOf(r);
  const px = npy(join(exp(r), 'pixel_values.npy')); // [1, max_patches, 3p²]
  const pos = npy(join(exp(r), 'image_position_ids.npy')).data as BigInt64Array; // [1, max_patches, 2]
  const n = g.n_real_patches;
  const dim = px.shape[2];
  const k = cfg.vision.poolingKernelSize;
  const [R, C] = g.patch_grid_rows_cols;
  return {
    pixel_values: { data: (px.data as Float32Array).subarray(0, n * dim), shape: [n, dim] },
    [POSITION_INPUT]: { data: pos.subarray(0, n * 2), shape: [n, 2] },
    [POOL_GRID_INPUT]: {
      data: BigInt64Array.from([R / k, k, C / k, k, cfg.vision.hiddenSize], BigInt),
      shape: [5],
    },
  };
}

describe('gemma4: vision stages from the fixture pixels', () => {
  test('hidden states, pooled, scaled, last_hidden_state, embed_vision normed, image_features within 1e-4', async () => {
    const L = cfg.vision.numHiddenLayers;
    const expose = [
      ...Array.from({ length: L + 1 }, (_, i) => GEMMA4_STAGES.hiddenState(i)),
      GEMMA4_STAGES.pooled,
      GEMMA4_STAGES.pooledScaled,
      GEMMA4_STAGES.lastHiddenState,
      GEMMA4_STAGES.embedNormed,
    ];
    const s = await visionSession({ expose });
    for (const r of RUNS) {
      const out = await s.run(feedsOf(r));
      const hs = f32(join(exp(r), 'vision_hidden_states.npy')); // [L+1, n, Hv]
      const per = hs.length / (L + 1);
      for (let i = 0; i <= L; i++) {
        check(
          `${r} vision_hidden_states[${i}]`,
          out.f32(GEMMA4_STAGES.hiddenState(i)).data,
          hs.subarray(i * per, (i + 1) * per),
        );
      }
      check(`${r} vision_pooled`, out.f32(GEMMA4_STAGES.pooled).data, f32(join(exp(r), 'vision_pooled.npy')));
      check(
        `${r} vision_pooled_scaled`,
        out.f32(GEMMA4_STAGES.pooledScaled).data,
        f32(join(exp(r), 'vision_pooled_scaled.npy')),
      );
      check(
        `${r} vision_last_hidden_state`,
        out.f32(GEMMA4_STAGES.lastHiddenState).data,
        f32(join(exp(r), 'vision_last_hidden_state.npy')),
      );
      check(
        `${r} embed_vision_normed`,
        out.f32(GEMMA4_STAGES.embedNormed).data,
        f32(join(exp(r), 'embed_vision_normed.npy')),
      );
      check(`${r} image_features`, out.f32('crop_features').data, f32(join(exp(r), 'image_features.npy')));
    }
    await s.release();
  });

  const wrong: Array<[string, Gemma4VisionOptions]> = [
    [
      'vision attention scaled by 1/sqrt(head_dim) instead of 1.0',
      { attentionScale: cfg.vision.headDim ** -0.5 },
    ],
    ['patch embedder without 2 (x - 0.5)', { skipPixelRescale: true }],
    ['(1 + w) RMSNorms (the Gemma 3 convention) instead of plain w', { normScale: 'onePlus' }],
    ['positions read as (row, col) instead of (x, y)', { swapPositions: true }],
  ];
  for (const [label, opts] of wrong) {
    test(`pitfall: ${label} fails`, async () => {
      const s = await visionSession(opts);
      const out = await s.run(feedsOf('portrait_45x90'));
      const d = scaledDiff(
        out.f32('crop_features').data,
        f32(join(exp('portrait_45x90'), 'image_features.npy')),
      );
      console.log(`  ${label}: maxdiff ${d.toExponential(2)}`);
      assert.ok(d > 100 * TOL, `the wrong convention should fail (maxdiff ${d})`);
      await s.release();
    });
  }
});

describe('gemma4: processor geometry and conventions', () => {
  const spec = (backend: 'pil' | 'torchvision') =>
    gemma4ProcessorSpec(null, json(`${DIR}/processor_config.json`), cfg, backend, DIR).spec;

  test('aspect-preserving target size, (x, y) position ids, padding, token count (not image_seq_length)', async () => {
    for (const r of RUNS) {
      const g = geoOf(r);
      const rgb = (await loadImage(imageOf(r))).image;
      const t = gemma4TargetSize(rgb, spec('torchvision'));
      assert.deepEqual([t.height, t.width], g.resized_hw, `${r} resized size`);
      const pre = gemma4Preprocess(rgb, spec('torchvision'));
      assert.deepEqual(
        Array.from(pre.gemma4.positionIds),
        Array.from(ints(join(exp(r), 'image_position_ids.npy'))),
      );
      const meta = json(join(exp(r), 'expected.json')) as unknown as { n_image_tokens: number };
      assert.equal(
        pre.gemma4.realPatches / 4,
        meta.n_image_tokens,
        `${r}: tokens from the patches, not image_seq_length 70`,
      );
      // channel-last patches: the uint8 resize of the default backend, un-patchified, is the fixture's
      check(`${r} resized_uint8`, pre.cropsUint8, chwOf(npy(join(exp(r), 'resized_uint8.npy'))), 0);
      check(`${r} pixel_values`, pre.pixelValues, f32(join(exp(r), 'pixel_values.npy')), 0);
      // pitfall: SigLIP's (c, py, px) order for the patch vectors does not give the processor's pixel_values
      const p = cfg.vision.patchSize;
      const wrong = new Float32Array(pre.pixelValues);
      const dim = 3 * p * p;
      for (let n = 0; n < pre.gemma4.realPatches; n++) {
        for (let c = 0; c < 3; c++) {
          for (let i = 0; i < p * p; i++)
            wrong[n * dim + c * p * p + i] = pre.pixelValues[n * dim + i * 3 + c];
        }
      }
      assert.ok(
        scaledDiff(wrong, f32(join(exp(r), 'pixel_values.npy'))) > 0.1,
        `${r}: channel-first patches differ`,
      );
    }
  });

  test('target-size edge rules: a side rounding to 0, an image already the right size is not resized', () => {
    const s = { patchSize: 4, maxSoftTokens: 70, poolingKernelSize: 2 };
    assert.deepEqual(gemma4TargetSize({ height: 2, width: 400 }, s), { height: 8, width: 560 });
    assert.deepEqual(gemma4TargetSize({ height: 48, width: 80 }, s), { height: 48, width: 80 });
    assert.throws(
      () => parseGemma4ProcessorConfig({ max_soft_tokens: 100 }, 'x', 'torchvision'),
      /max_soft_tokens 100 must be one of 70, 140, 280, 560, 1120/,
    );
  });

  test('config: vision rope_type axial (later transformers) is the same rope; another is refused', () => {
    const raw = json(`${DIR}/config.json`);
    const withRope = (t: string) => ({
      ...raw,
      vision_config: { ...(raw.vision_config as object), rope_parameters: { rope_type: t, rope_theta: 100 } },
    });
    assert.equal(parseGemma4Config(new ConfigReader(withRope('axial'), 'x')).vision.ropeTheta, 100);
    assert.throws(() => parseGemma4Config(new ConfigReader(withRope('yarn'), 'x')), /rope_type "yarn"/);
  });

  test('registered family: tied, plain-w norm, sqrt(H) embed scale, every row of the 512-row vocabulary', async () => {
    const src = new LocalSource(DIR);
    const fam = getFamily('gemma4', DIR).load({
      config: new ConfigReader(json(`${DIR}/config.json`), DIR),
      preprocessor: null,
      processorConfig: json(`${DIR}/processor_config.json`),
      index: await src.tensorIndex(),
      where: DIR,
    });
    assert.equal(fam.text.lmHead, null);
    assert.equal(fam.text.embed, 'model.language_model.embed_tokens.weight');
    assert.equal(fam.text.normKind, 'rms');
    assert.equal(fam.text.embedScale, f32Sqrt(48));
    assert.equal(fam.text.vocabSize, 512);
    assert.equal(cfg.decoder.finalLogitSoftcapping, 30);
    assert.deepEqual(
      [cfg.decoder.headDim, cfg.decoder.globalHeadDim, cfg.decoder.numKvSharedLayers],
      [16, 32, 2],
    );
    assert.equal(cfg.decoder.attentionScale, 1);
    assert.deepEqual(cfg.decoder.rope.full_attention, {
      ropeType: 'proportional',
      theta: 1e6,
      factor: 1,
      partialRotaryFactor: 0.25,
    });
  });
});

/** [H, W, 3] uint8 npy -> [3, H, W] values. */
function chwOf(a: { data: unknown; shape: number[] }): Float32Array {
  const [h, w] = a.shape;
  const d = a.data as Uint8Array;
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) out[c * h * w + i] = d[i * 3 + c];
  return out;
}

describe('gemma4: lens matrices and conventions', () => {
  const src = new LocalSource(DIR);
  const E = 'model.language_model.embed_tokens.weight';
  const N = 'model.language_model.norm.weight';
  async function lensWith(o: { embedScale: number; normKind: 'rms' | 'rms1p' }): Promise<Lens> {
    const t = await src.readTensors([E, N]);
    return Lens.create({
      embed: t.get(E)!,
      normWeight: tensorToFloat32(t.get(N)!),
      rmsEps: cfg.text.rmsNormEps,
      vocab: cfg.text.vocabSize,
      hidden: cfg.text.hiddenSize,
      ...o,
    });
  }
  const rowsDiffering = (got: Int32Array, want: Int32Array, n: number): number => {
    let d = 0;
    for (let i = 0; i < n; i++)
      if (got.subarray(i * 10, i * 10 + 10).join() !== want.subarray(i * 10, i * 10 + 10).join()) d++;
    return d;
  };

  test('pitfall: l2 against the raw embed_tokens changes every row; the scaled matrix matches l2_scaled', async () => {
    const raw = await lensWith({ embedScale: 1, normKind: 'rms' });
    const good = await lensWith({ embedScale: f32Sqrt(48), normKind: 'rms' });
    const feats = f32(join(exp('gradient_37x23'), 'image_features.npy'));
    const n = feats.length / 48;
    const want = ints(join(exp('gradient_37x23'), 'topk_l2_scaled_ids.npy'));
    assert.equal(rowsDiffering((await good.run(feats, n, 'l2', 10)).ids, want, n), 0);
    const d = rowsDiffering((await raw.run(feats, n, 'l2', 10)).ids, want, n);
    console.log(`  raw-matrix l2: ${d}/${n} rows differ`);
    assert.equal(d, n);
    await raw.release();
    await good.release();
  });

  test('pitfall: the logit lens with (1 + w) instead of plain w changes the top-10; the softcap keeps the ids', async () => {
    const wrong = await lensWith({ embedScale: f32Sqrt(48), normKind: 'rms1p' });
    const right = await lensWith({ embedScale: f32Sqrt(48), normKind: 'rms' });
    const feats = f32(join(exp('shapes_120x80'), 'image_features.npy'));
    const n = feats.length / 48;
    const want = ints(join(exp('shapes_120x80'), 'topk_lm_head_normed_ids.npy'));
    const d = rowsDiffering((await wrong.run(feats, n, 'logit', 10)).ids, want, n);
    console.log(`  (1 + w) final norm: ${d}/${n} rows differ`);
    assert.ok(d >= n * 0.8, `${d} rows differ`);
    const capped = ints(join(exp('shapes_120x80'), 'topk_lm_head_normed_softcapped_ids.npy'));
    const top = await right.run(feats, n, 'logit', 10);
    assert.equal(rowsDiffering(top.ids, capped, n), 0, 'softcapped ids = raw logit ids');
    await wrong.release();
    await right.release();
  });
});
