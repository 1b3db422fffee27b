// Golden tests of the Qwen2.5-VL family against the transformers 5.12.1 fixtures (test/fixtures/modern/tiny-qwen2_5-vl):
// config defaults, the Pillow-backend pixels bit for bit, the window plan, every stored stage of the vision graph
// (maxdiff printed), and one test per wrong convention README-qwen.md names, each of which must fail the comparison.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { decodeImage } from '../../image/decode.js';
import { qwen2vlPreprocess } from '../qwen2_vl/processor.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import type { WeightTensor } from '../../source/types.js';
import { parseNpy } from '../../util/npy.js';
import { parseQwen2_5VLConfig } from './config.js';
import type { PreprocessResult } from '../../image/processor.js';
import { qwen2_5vlVisionInputs, qwenVLProcessorSpec } from './index.js';
import {
  buildQwen2_5VLVisionGraph,
  qwen2_5vlVisionTensorNames,
  type Qwen2_5VLConventions,
} from './vision.js';
import { windowGraphInputs, windowPlan } from './windows.js';

const FIX = 'test/fixtures/modern/tiny-qwen2_5-vl';
const IMAGES_DIR = 'test/fixtures/modern/images';
const IMAGES = ['gradient_37x23.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
/** Fixture tolerance: 1e-4, relative past magnitude 1. */
const TOL = 1e-4;

const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));
const f32 = (p: string) => npy(p).data as Float32Array;
const ints = (p: string) => Array.from(npy(p).data as BigInt64Array | Int32Array, Number);
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;
const stem = (f: string) => f.replace(/\.\w+$/, '');

const cfg = parseQwen2_5VLConfig(new ConfigReader(readJson(join(FIX, 'config.json')), FIX));
const v = cfg.vision;
const files = {
  preprocessor: null,
  processorConfig: readJson(join(FIX, 'processor_config.json')),
  where: FIX,
  imageBackend: 'pil' as const, // the fixture stages are computed from the Pillow backend's pixels
};
const proc = qwen2vlPreprocessSpec();

function qwen2vlPreprocessSpec() {
  return qwenVLProcessorSpec(files, v, 'qwen2_5_vl').spec;
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

test('config: nested 5.x layout, rope_parameters, vision defaults where omitted', () => {
  assert.deepEqual(
    [
      v.depth,
      v.hidden,
      v.numHeads,
      v.intermediate,
      v.hiddenAct,
      v.patchSize,
      v.windowSize,
      v.fullAttBlocks,
      v.outHidden,
    ],
    [3, 24, 2, 40, 'silu', 2, 8, [1], 48],
  );
  const t = cfg.text;
  assert.deepEqual(
    [t.vocabSize, t.hiddenSize, t.numHiddenLayers, t.rmsNormEps, t.tieWordEmbeddings],
    [448, 48, 2, 1e-6, false],
  );
  assert.deepEqual(t.rope, { theta: 1e6, mropeSection: [2, 3, 3], interleaved: false });
  assert.equal(cfg.imageTokenId, 428);
  // The hub's flat layout (no text_config, rope_scaling {type: mrope}) reads to the same text settings.
  const flat = parseQwen2_5VLConfig(
    new ConfigReader(
      {
        model_type: 'qwen2_5_vl',
        hidden_size: 48,
        vocab_size: 448,
        num_hidden_layers: 2,
        rms_norm_eps: 1e-6,
        rope_theta: 1e6,
        rope_scaling: { type: 'mrope', mrope_section: [2, 3, 3] },
        vision_config: { out_hidden_size: 48 },
      },
      'flat',
    ),
  );
  // (the flat sample has no head counts, so its decoder settings, read for the deep lens only, differ)
  assert.deepEqual({ ...flat.text, decoder: t.decoder }, { ...t });
  assert.match(flat.text.decoder.problem ?? '', /head_dim/);
  // Omitted vision fields take Qwen2_5_VLVisionConfig's defaults (the released 7B's tower).
  assert.deepEqual(
    [
      flat.vision.depth,
      flat.vision.hidden,
      flat.vision.intermediate,
      flat.vision.windowSize,
      flat.vision.fullAttBlocks,
    ],
    [32, 3584, 3420, 112, [7, 15, 23, 31]],
  );
});

test('processor settings: processor_config.json image_processor, size.shortest_edge/longest_edge = min/max pixels', () => {
  assert.deepEqual([proc.minPixels, proc.maxPixels, proc.patchSize, proc.mergeSize], [1024, 4096, 2, 2]);
  assert.equal(proc.resample, 'bicubic');
});

test("window slots at real shape (7B's tower, a 1008x756 input): every row in one slot of its own window", () => {
  const real = { patchSize: 14, spatialMergeSize: 2, windowSize: 112 };
  const plan = windowPlan({ h: 54, w: 72 }, real); // 27 x 36 merged units, 4 x 4 units per window
  assert.deepEqual([plan.windowsH, plan.windowsW, plan.cuWindowSeqlens.length - 1], [7, 9, 63]);
  const w = windowGraphInputs(plan, real);
  assert.deepEqual([w.windows, w.slotsPerWindow, w.rows.length], [63, 64, 54 * 72]);
  let unmasked = 0;
  for (let r = 0; r < w.rows.length; r++) {
    const slot = Number(w.rows[r]);
    assert.equal(Number(w.slots[slot]), r, `row ${r} round trip`);
    assert.equal(w.keyBias[slot], 0);
    const win = Math.floor(slot / 64);
    assert.ok(
      r >= plan.cuWindowSeqlens[win] && r < plan.cuWindowSeqlens[win + 1],
      `row ${r} in window ${win}`,
    );
  }
  for (const b of w.keyBias) if (b === 0) unmasked++;
  assert.equal(unmasked, 54 * 72, 'padding slots are masked');
});

describe('Qwen2.5-VL stages', () => {
  let tensors: Map<string, WeightTensor>;
  const sessions: Session[] = [];
  after(async () => {
    for (const s of sessions) await s.release();
  });
  const session = async (conventions?: Qwen2_5VLConventions) => {
    if (!tensors) {
      const src = new LocalSource(FIX);
      const names = qwen2_5vlVisionTensorNames(v, await src.tensorIndex(), FIX);
      assert.ok(
        names.every((n) => n.startsWith('visual.')),
        'legacy visual.* names as 5.12 saves them',
      );
      tensors = await src.readTensors(names);
    }
    const s = await Session.create(
      buildQwen2_5VLVisionGraph(v, tensors, { exposeHiddenStates: !conventions, conventions, where: FIX }),
    );
    sessions.push(s);
    return s;
  };

  for (const file of IMAGES) {
    const img = stem(file);
    const exp = join(FIX, 'expected', img);

    test(`${img}: pixels (Pillow backend) bit for bit; the torchvision default within the stated 0.0151`, async (tc) => {
      const { image } = await decodeImage(join(IMAGES_DIR, file));
      const pre = qwen2vlPreprocess(image, proc);
      const want = npy(join(exp, 'pixel_values_pil.npy'));
      assert.deepEqual(pre.shape, want.shape);
      const u8 = npy(join(exp, 'resized_uint8.npy'));
      assert.equal(pre.cropsUint8.length, u8.data.length, `resized uint8 ${u8.shape.join('x')}`);
      const plane = u8.shape[0] * u8.shape[1]; // resized_uint8 is [H, W, 3]; cropsUint8 [3, H, W]
      let u8Differ = 0;
      for (let i = 0; i < u8.data.length; i++) {
        if (pre.cropsUint8[(i % 3) * plane + Math.floor(i / 3)] !== u8.data[i]) u8Differ++;
      }
      assert.equal(u8Differ, 0, 'Pillow BICUBIC resize bit for bit');
      const px = want.data as Float32Array;
      let differ = 0;
      for (let i = 0; i < px.length; i++) if (pre.pixelValues[i] !== px[i]) differ++;
      assert.equal(differ, 0, 'pixel_values_pil bit for bit');
      const tv = f32(join(exp, 'pixel_values.npy'));
      let tvMax = 0;
      for (let i = 0; i < tv.length; i++) tvMax = Math.max(tvMax, Math.abs(pre.pixelValues[i] - tv[i]));
      tc.diagnostic(`vs the torchvision default backend: pixel_values max |diff| ${tvMax.toExponential(3)}`);
      assert.ok(tvMax <= 0.0151, `torchvision difference ${tvMax} beyond the fixtures' stated 0.0150`);
      const [, gh, gw] = ints(join(exp, 'image_grid_thw.npy'));
      assert.deepEqual(
        [pre.geometry.crops[0].height / v.patchSize, pre.geometry.crops[0].width / v.patchSize],
        [gh, gw],
      );
    });

    test(`${img}: window plan = window_index, cu_window_seqlens, token_layout window columns`, () => {
      const [, gh, gw] = ints(join(exp, 'image_grid_thw.npy'));
      const plan = windowPlan({ h: gh, w: gw }, v);
      assert.deepEqual(Array.from(plan.unitOrder), ints(join(exp, 'window_index.npy')), 'window_index');
      assert.deepEqual(plan.cuWindowSeqlens, ints(join(exp, 'cu_window_seqlens.npy')), 'cu_window_seqlens');
      const meta = readJson(join(exp, 'expected.json')) as {
        geometry: { windows_hw: number[]; n_windows: number };
      };
      assert.deepEqual([plan.windowsH, plan.windowsW], meta.geometry.windows_hw);
      assert.equal(plan.cuWindowSeqlens.length - 1, meta.geometry.n_windows);
      const layout = npy(join(exp, 'token_layout.npy'));
      const cols = layout.shape[1];
      const rows = ints(join(exp, 'token_layout.npy'));
      for (let t = 0; t < layout.shape[0]; t++) {
        const pos = plan.reverse[t];
        assert.equal(pos, rows[t * cols + 13], `token ${t} index_in_window_order`);
        assert.equal(plan.unitWindow[pos], rows[t * cols + 12], `token ${t} window`);
      }
    });

    test(`${img}: patch_embeds, every hidden state (window order), merger_input, image_features`, async (tc) => {
      const s = await session();
      const out = await s.run(qwen2_5vlVisionInputs(storedPixels(exp), v).feeds);
      const rep: string[] = [];
      const check = (got: Float32Array, want: Float32Array, what: string) => {
        const d = relDiff(got, want, what);
        rep.push(`${what} ${d.toExponential(2)}`);
        assert.ok(d <= TOL, `${img} ${what}: maxdiff ${d}`);
      };
      check(out.f32('vision.patch_embeds').data, f32(join(exp, 'patch_embeds.npy')), 'patch_embeds');
      const hs = npy(join(exp, 'vision_hidden_states.npy'));
      const per = hs.shape[1] * hs.shape[2];
      for (let i = 0; i < hs.shape[0]; i++) {
        const want = (hs.data as Float32Array).subarray(i * per, (i + 1) * per);
        check(out.f32(`vision.hidden_states.${i}`).data, want, `hidden_states[${i}]`);
      }
      check(out.f32('merger.input').data, f32(join(exp, 'merger_input.npy')), 'merger_input');
      check(out.f32('crop_features').data, f32(join(exp, 'image_features.npy')), 'image_features');
      tc.diagnostic(`${img} maxdiff (relative past 1): ${rep.join(', ')}`);
    });
  }

  // README-qwen.md's pitfalls: each wrong convention must fail the image_features comparison.
  const pitfalls: Array<[string, Qwen2_5VLConventions]> = [
    ['no reverse permutation after the merger', { reverse: false }],
    ['no window reordering (windows cut from raster rows)', { windowOrder: false }],
    ['LayerNorm instead of RMSNorm ln_q', { lnq: 'layernorm' }],
    ['full attention in every block', { windows: false }],
  ];
  for (const [what, conventions] of pitfalls) {
    test(`pitfall: ${what} fails the comparison`, async (tc) => {
      const s = await session(conventions);
      const diffs: string[] = [];
      for (const file of IMAGES) {
        const exp = join(FIX, 'expected', stem(file));
        const out = await s.run(qwen2_5vlVisionInputs(storedPixels(exp), v).feeds);
        const d = relDiff(
          out.f32('crop_features').data,
          f32(join(exp, 'image_features.npy')),
          'image_features',
        );
        diffs.push(`${stem(file)} ${d.toExponential(2)}`);
        assert.ok(d > 100 * TOL, `${stem(file)}: the wrong convention matches the fixture (maxdiff ${d})`);
      }
      tc.diagnostic(`${what}: image_features maxdiff ${diffs.join(', ')}`);
    });
  }
});
