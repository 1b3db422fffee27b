// Golden tests of the Qwen3-VL family against the transformers 5.12.1 fixtures (test/fixtures/modern/tiny-qwen3-vl):
// config defaults, the Pillow-backend pixels bit for bit, the position-table interpolation (indices exact, weights
// bit for bit), every stored stage of the vision graph including both DeepStack features (maxdiff printed), and one
// test per vision-side wrong convention README-qwen.md names, each of which must fail the comparison.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { decodeImage } from '../../image/decode.js';
import type { PreprocessResult } from '../../image/processor.js';
import { qwen2vlPreprocess } from '../qwen2_vl/processor.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import type { WeightTensor } from '../../source/types.js';
import { parseNpy } from '../../util/npy.js';
import { qwenVLProcessorSpec } from '../qwen2_5_vl/index.js';
import { parseQwen3VLConfig } from './config.js';
import { qwen3vlVisionInputs } from './index.js';
import { linspaceF32, posEmbedPlan } from './posembed.js';
import {
  buildQwen3VLVisionGraph,
  deepstackOutput,
  qwen3vlVisionTensorNames,
  type Qwen3VLConventions,
} from './vision.js';

const FIX = 'test/fixtures/modern/tiny-qwen3-vl';
const IMAGES_DIR = 'test/fixtures/modern/images';
const IMAGES = ['gradient_37x23.png', 'checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
/** Fixture tolerance: 1e-4, relative past magnitude 1. */
const TOL = 1e-4;

const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));
const f32 = (p: string) => npy(p).data as Float32Array;
const ints = (p: string) => Array.from(npy(p).data as BigInt64Array | Int32Array, Number);
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;
const stem = (f: string) => f.replace(/\.\w+$/, '');

const cfg = parseQwen3VLConfig(new ConfigReader(readJson(join(FIX, 'config.json')), FIX));
const v = cfg.vision;
const files = {
  preprocessor: null,
  processorConfig: readJson(join(FIX, 'processor_config.json')),
  where: FIX,
  imageBackend: 'pil' as const, // the fixture stages are computed from the Pillow backend's pixels
};
const proc = qwenVLProcessorSpec(files, v, 'qwen3_vl').spec;

/** max |got - want| / max(1, |want|) over all elements. */
function relDiff(got: ArrayLike<number>, want: ArrayLike<number>, what: string): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} vs ${want.length}`);
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** The stored Pillow-backend pixels as a preprocess result (the grid is all the graph inputs read besides them). */
function storedPixels(exp: string): PreprocessResult {
  const px = npy(join(exp, 'pixel_values_pil.npy'));
  const [, gh, gw] = ints(join(exp, 'image_grid_thw.npy'));
  return {
    pixelValues: px.data as Float32Array,
    shape: px.shape,
    geometry: { crops: [{ height: gh * v.patchSize, width: gw * v.patchSize }] },
  } as unknown as PreprocessResult;
}

test('config: nested 5.x layout, interleaved M-RoPE settings, tied', () => {
  assert.deepEqual(
    [
      v.depth,
      v.hidden,
      v.numHeads,
      v.intermediate,
      v.hiddenAct,
      v.patchSize,
      v.numPositionEmbeddings,
      v.deepstackIndexes,
      v.outHidden,
    ],
    [3, 32, 2, 48, 'gelu_pytorch_tanh', 4, 64, [0, 1], 48],
  );
  const t = cfg.text;
  assert.deepEqual(
    [t.vocabSize, t.hiddenSize, t.numHiddenLayers, t.rmsNormEps, t.tieWordEmbeddings],
    [448, 48, 3, 1e-6, true],
  );
  assert.deepEqual(t.rope, { theta: 5e6, mropeSection: [4, 2, 2], interleaved: true });
  const bare = parseQwen3VLConfig(new ConfigReader({ vision_config: { out_hidden_size: 4096 } }, 'bare'));
  assert.deepEqual(
    [
      bare.vision.depth,
      bare.vision.hidden,
      bare.vision.patchSize,
      bare.vision.numPositionEmbeddings,
      bare.vision.deepstackIndexes,
    ],
    [27, 1152, 16, 2304, [8, 16, 24]],
  );
  assert.equal(bare.text.rope.theta, 5e5);
});

test('linspace mirrors torch.linspace in float32: fused end-side rule past halfway, vector blocks from 32 steps', () => {
  // torch.linspace(0, 7, 22)[16] in the fixtures' build is fma(-step, 5, 7) = 5.3333335 (unfused: 5.333333).
  const a = linspaceF32(0, 7, 22);
  assert.deepEqual([a[0], a[21], a[16]], [0, 7, Math.fround(5.3333335)]);
  assert.notEqual(a[16], Math.fround(7 - Math.fround(Math.fround(7 / 21) * 5)));
  // From 32 steps the first 32 entries are two 16-lane vectors: lanes = base + j * step.
  const b = linspaceF32(0, 7, 40);
  const step = Math.fround(7 / 39);
  assert.equal(b[17], Math.fround(Math.fround(step * 16) + step));
  assert.equal(b[39], 7);
  assert.equal(linspaceF32(0, 7, 1)[0], 0);
});

describe('Qwen3-VL stages', () => {
  let tensors: Map<string, WeightTensor>;
  const sessions: Session[] = [];
  after(async () => {
    for (const s of sessions) await s.release();
  });
  const session = async (conventions?: Qwen3VLConventions) => {
    if (!tensors) {
      const src = new LocalSource(FIX);
      const names = qwen3vlVisionTensorNames(v, await src.tensorIndex(), FIX);
      assert.ok(
        names.every((n) => n.startsWith('model.visual.')),
        '5.x model.visual.* names',
      );
      tensors = await src.readTensors(names);
    }
    const s = await Session.create(
      buildQwen3VLVisionGraph(v, tensors, { exposeHiddenStates: !conventions, conventions, where: FIX }),
    );
    sessions.push(s);
    return s;
  };
  const run = (s: Session, exp: string, sampling?: 'align_corners' | 'half_pixel') =>
    s.run(qwen3vlVisionInputs(storedPixels(exp), v, sampling).feeds);

  for (const file of IMAGES) {
    const img = stem(file);
    const exp = join(FIX, 'expected', img);

    test(`${img}: pixels (Pillow backend) bit for bit; the torchvision default within the stated 0.0079`, async (tc) => {
      const { image } = await decodeImage(join(IMAGES_DIR, file));
      const pre = qwen2vlPreprocess(image, proc);
      const want = npy(join(exp, 'pixel_values_pil.npy'));
      assert.deepEqual(pre.shape, want.shape);
      const px = want.data as Float32Array;
      let differ = 0;
      for (let i = 0; i < px.length; i++) if (pre.pixelValues[i] !== px[i]) differ++;
      assert.equal(differ, 0, 'pixel_values_pil bit for bit');
      const tv = f32(join(exp, 'pixel_values.npy'));
      let tvMax = 0;
      for (let i = 0; i < tv.length; i++) tvMax = Math.max(tvMax, Math.abs(pre.pixelValues[i] - tv[i]));
      tc.diagnostic(`vs the torchvision default backend: pixel_values max |diff| ${tvMax.toExponential(3)}`);
      assert.ok(tvMax <= 0.0079, `torchvision difference ${tvMax} beyond the fixtures' stated 0.00784`);
    });

    test(`${img}: position-table interpolation indices exact, weights bit for bit`, () => {
      const [, gh, gw] = ints(join(exp, 'image_grid_thw.npy'));
      const plan = posEmbedPlan({ h: gh, w: gw }, 8, v.spatialMergeSize);
      assert.deepEqual(Array.from(plan.indices, Number), ints(join(exp, 'pos_embed_indices.npy')));
      const w = f32(join(exp, 'pos_embed_weights.npy'));
      let differ = 0;
      for (let i = 0; i < w.length; i++) if (plan.weights[i] !== w[i]) differ++;
      assert.equal(differ, 0, 'pos_embed_weights bit for bit');
    });

    test(`${img}: patch_embeds, pos_embeds, hidden states, merger_input, image_features, DeepStack features`, async (tc) => {
      const out = await run(await session(), exp);
      const rep: string[] = [];
      const check = (got: Float32Array, want: Float32Array, what: string) => {
        const d = relDiff(got, want, what);
        rep.push(`${what} ${d.toExponential(2)}`);
        assert.ok(d <= TOL, `${img} ${what}: maxdiff ${d}`);
      };
      check(out.f32('vision.patch_embeds').data, f32(join(exp, 'patch_embeds.npy')), 'patch_embeds');
      check(out.f32('vision.pos_embeds').data, f32(join(exp, 'pos_embeds.npy')), 'pos_embeds');
      const hs = npy(join(exp, 'vision_hidden_states.npy'));
      const per = hs.shape[1] * hs.shape[2];
      for (let i = 0; i < hs.shape[0]; i++) {
        const want = (hs.data as Float32Array).subarray(i * per, (i + 1) * per);
        check(out.f32(`vision.hidden_states.${i}`).data, want, `hidden_states[${i}]`);
      }
      check(out.f32('merger.input').data, f32(join(exp, 'merger_input.npy')), 'merger_input');
      check(out.f32('crop_features').data, f32(join(exp, 'image_features.npy')), 'image_features');
      for (let k = 0; k < v.deepstackIndexes.length; k++) {
        check(
          out.f32(deepstackOutput(k)).data,
          f32(join(exp, `deepstack_features_${k}.npy`)),
          `deepstack_${k}`,
        );
      }
      tc.diagnostic(`${img} maxdiff (relative past 1): ${rep.join(', ')}`);
    });
  }

  // README-qwen.md's vision-side Qwen3-VL conventions: each wrong one must fail the comparison.
  const pitfalls: Array<[string, Qwen3VLConventions, 'align_corners' | 'half_pixel', string]> = [
    ['patch embedding without its bias', { patchBias: false }, 'align_corners', 'image_features'],
    ['position table interpolated half-pixel (align_corners=False)', {}, 'half_pixel', 'image_features'],
    ['DeepStack merger fed one block early', { deepstackFromBlockInput: true }, 'align_corners', 'deepstack'],
  ];
  for (const [what, conventions, sampling, stage] of pitfalls) {
    test(`pitfall: ${what} fails the comparison`, async (tc) => {
      const s = await session(conventions);
      const diffs: string[] = [];
      for (const file of IMAGES) {
        const exp = join(FIX, 'expected', stem(file));
        const out = await run(s, exp, sampling);
        const d =
          stage === 'image_features'
            ? relDiff(out.f32('crop_features').data, f32(join(exp, 'image_features.npy')), stage)
            : Math.min(
                ...v.deepstackIndexes.map((_, k) =>
                  relDiff(
                    out.f32(deepstackOutput(k)).data,
                    f32(join(exp, `deepstack_features_${k}.npy`)),
                    stage,
                  ),
                ),
              );
        diffs.push(`${stem(file)} ${d.toExponential(2)}`);
        // checker_64x64 needs no resize and its grid equals the table: half-pixel and corner sampling differ anyway.
        assert.ok(d > 100 * TOL, `${stem(file)}: the wrong convention matches the fixture (maxdiff ${d})`);
      }
      tc.diagnostic(`${what}: ${stage} maxdiff ${diffs.join(', ')}`);
    });
  }
});
