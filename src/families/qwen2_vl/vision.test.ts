// Golden test of the Qwen2-VL vision graph (after llm.c's test_gpt2.c): the rotary positions and angles computed in TS,
// then every hidden state, the merger input and the merged features against the transformers 4.45.1 dumps in
// test/fixtures/arch/tiny-qwen2-vl, with maxdiff printed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigReader } from '../../config/reader.js';
import { parseQwen2VLConfig } from './index.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import { parseNpy } from '../../util/npy.js';
import { buildQwen2VLVisionGraph, qwen2vlVisionTensorNames, visionRotaryAngles } from './vision.js';

const FIX = 'test/fixtures/arch/tiny-qwen2-vl';
const IMAGES = ['gradient_37x23', 'checker_64x64', 'portrait_45x90'];
const TOL = 1e-4; // float32 ORT vs float32 torch; observed maxdiffs are ~2e-6

const npy = (path: string) => parseNpy(new Uint8Array(readFileSync(path)));
const cfg = parseQwen2VLConfig(
  new ConfigReader(
    JSON.parse(readFileSync(join(FIX, 'config.json'), 'utf8')) as Record<string, unknown>,
    FIX,
  ),
);
const v = cfg.vision;
const hd = v.embedDim / v.numHeads;

function maxdiff(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m;
}

test('config: flat Qwen2VLConfig with the omitted vision defaults applied', () => {
  assert.deepEqual(
    [
      v.depth,
      v.embedDim,
      v.numHeads,
      v.mlpHidden,
      v.hiddenAct,
      v.patchSize,
      v.temporalPatchSize,
      v.spatialMergeSize,
    ],
    [2, 32, 2, 64, 'quick_gelu', 2, 2, 2],
  );
  assert.deepEqual(
    [cfg.text.vocabSize, cfg.text.hiddenSize, cfg.text.rmsNormEps, cfg.text.tieWordEmbeddings],
    [528, 48, 1e-6, true],
  );
  assert.equal(cfg.imageTokenId, 510);
});

let session: Session | null = null;
after(async () => {
  await session?.release();
});

for (const img of IMAGES) {
  test(`${img}: rotary positions and angles, hidden states, merger input, features`, async (tc) => {
    const exp = join(FIX, 'expected', img);
    const [t, h, w] = Array.from(npy(join(exp, 'image_grid_thw.npy')).data as BigInt64Array, Number);
    const rot = visionRotaryAngles({ t, h, w }, hd, v.spatialMergeSize);
    const pos = npy(join(exp, 'vision_pos_ids.npy'));
    assert.deepEqual(Array.from(rot.posIds), Array.from(pos.data as BigInt64Array, Number), 'vision_pos_ids');
    const angles = npy(join(exp, 'vision_rotary_angles.npy'));
    assert.deepEqual(rot.angles.shape, angles.shape);
    const da = maxdiff(rot.angles.data, angles.data as Float32Array);
    assert.ok(da <= 1e-6, `rotary angles maxdiff ${da}`);

    if (!session) {
      const src = new LocalSource(FIX);
      const names = qwen2vlVisionTensorNames(v, await src.tensorIndex(), FIX);
      assert.ok(names.every((n) => n.startsWith('visual.')) && !names.some((n) => n.startsWith('model.')));
      const graph = buildQwen2VLVisionGraph(v, await src.readTensors(names), {
        exposeHiddenStates: true,
        where: FIX,
      });
      session = await Session.create(graph);
    }
    const px = npy(join(exp, 'pixel_values.npy'));
    const out = await session.run({
      pixel_values: { data: px.data as Float32Array, shape: px.shape },
      vision_rotary_angles: rot.angles,
    });
    const hs = npy(join(exp, 'vision_hidden_states.npy')); // [depth+1, N, E]
    const per = hs.shape[1] * hs.shape[2];
    for (let i = 0; i < hs.shape[0]; i++) {
      const d = maxdiff(
        out.f32(`vision.hidden_states.${i}`).data,
        (hs.data as Float32Array).subarray(i * per, (i + 1) * per),
      );
      tc.diagnostic(`${img} hidden_states[${i}] maxdiff ${d.toExponential(2)}`);
      assert.ok(d <= TOL, `hidden_states[${i}] maxdiff ${d}`);
    }
    const mi = npy(join(exp, 'merger_input.npy'));
    const dm = maxdiff(out.f32('merger.input', mi.shape).data, mi.data as Float32Array);
    const feat = npy(join(exp, 'image_features.npy'));
    const df = maxdiff(out.f32('crop_features', [1, ...feat.shape]).data, feat.data as Float32Array);
    tc.diagnostic(`${img} merger_input maxdiff ${dm.toExponential(2)}, features ${df.toExponential(2)}`);
    assert.ok(dm <= TOL && df <= TOL);
  });
}
