// Golden test of the SigLIP tower inside the LLaVA image path (tiny-llava-siglip, F16 checkpoint): every hidden
// state, the 'full' selection and the projector output against the transformers 4.45.1 dumps in
// test/fixtures/arch, with maxdiff printed; and which tensors are read (never the pooling head, never post_layernorm).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigReader } from '../../config/reader.js';
import { parseLlavaConfig } from './config.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import { parseNpy, type NpyArray } from '../../util/npy.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames, type LlavaVisionSpec } from './vision.js';

const DIR = 'test/fixtures/arch/tiny-llava-siglip';
const TOL = 1e-4; // float32 ORT vs float32 torch

/**
 * Reads a .npy as C order. tiny-llava-siglip's vision_selected.npy is stored Fortran-ordered (a torch view that
 * numpy saved as-is, although the fixtures README says C order), which parseNpy rejects: read its bytes and
 * transpose them here.
 */
function readNpy(path: string): NpyArray {
  const buf = new Uint8Array(readFileSync(path));
  const head = new TextDecoder().decode(buf.subarray(0, 128));
  if (!head.includes("'fortran_order': True")) return parseNpy(buf);
  const patched = buf.slice();
  const at = head.indexOf("True, 'shape'");
  patched.set(new TextEncoder().encode("False,'shape'"), at);
  const a = parseNpy(patched);
  const src = a.data as Float32Array;
  const shape = a.shape;
  const out = new Float32Array(src.length);
  // Fortran offset of index (i0, ..., in) is i0 + s0 * (i1 + s1 * (...)); walk the C order and gather.
  const idx = new Array<number>(shape.length).fill(0);
  for (let c = 0; c < out.length; c++) {
    let f = 0;
    for (let d = shape.length - 1; d >= 0; d--) f = f * shape[d] + idx[d];
    out[c] = src[f];
    for (let d = shape.length - 1; d >= 0 && ++idx[d] === shape[d]; d--) idx[d] = 0;
  }
  return { ...a, data: out };
}

function spec(over: Partial<LlavaVisionSpec> = {}): LlavaVisionSpec {
  const raw = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  const cfg = parseLlavaConfig(new ConfigReader(raw, 'tiny-llava-siglip/config.json'));
  return {
    tower: cfg.vision,
    featureLayer: cfg.featureLayer,
    strategy: cfg.strategy,
    projector: { act: cfg.projectorAct, textHidden: cfg.text.hiddenSize },
    ...over,
  };
}

function check(label: string, got: Float32Array, want: Float32Array, tol = TOL): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let d = 0;
  for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
  console.log(`  ${label}: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${label}: maxdiff ${d} > ${tol}`);
}

test('siglip_vision_model config: HF SiglipVisionConfig values, no CLS', () => {
  const s = spec();
  assert.equal(s.tower.modelType, 'siglip_vision_model');
  assert.equal(s.tower.hiddenAct, 'gelu_pytorch_tanh');
  assert.equal(s.tower.layerNormEps, 1e-6);
  assert.equal(s.strategy, 'full');
  assert.equal(s.featureLayer, -1);
});

test('tensors read: embeddings (conv with bias), layers up to the selected one; no head, no post_layernorm', async () => {
  const index = await new LocalSource(DIR).tensorIndex();
  assert.ok(
    [...index.keys()].some((n) => n.includes('.head.')),
    'the fixture has the unused pooling head',
  );
  const names = llavaVisionTensorNames(spec(), index, DIR);
  assert.ok(names.includes('vision_tower.vision_model.embeddings.patch_embedding.bias'));
  assert.ok(names.includes('vision_tower.vision_model.embeddings.position_embedding.weight'));
  assert.ok(!names.some((n) => n.includes('class_embedding') || n.includes('pre_layrnorm')));
  assert.ok(!names.some((n) => n.includes('.head.') || n.includes('post_layernorm')));
  assert.ok(names.some((n) => n.includes('encoder.layers.1.')));
  // hidden_states[1] needs layer 0 only.
  const early = llavaVisionTensorNames(spec({ featureLayer: 1 }), index, DIR);
  assert.ok(early.some((n) => n.includes('encoder.layers.0.')));
  assert.ok(!early.some((n) => n.includes('encoder.layers.1.')));
});

test('hidden states, full selection and projector match transformers (F16 weights)', async () => {
  const s = spec();
  const src = new LocalSource(DIR);
  const tensors = await src.readTensors(llavaVisionTensorNames(s, await src.tensorIndex(), DIR));
  const graph = buildLlavaVisionGraph(s, tensors, { exposeHiddenStates: true, where: DIR });
  assert.equal(graph.tokensPerCrop, 64, 'SigLIP has no CLS: full = 64 patches');
  const session = await Session.create(graph.model);
  const images = readdirSync(join(DIR, 'expected'), { withFileTypes: true }).filter((d) => d.isDirectory());
  for (const { name: img } of images) {
    const exp = join(DIR, 'expected', img);
    const px = readNpy(join(exp, 'pixel_values.npy'));
    const out = await session.run({ pixel_values: { data: px.data as Float32Array, shape: px.shape } });
    const hs = readNpy(join(exp, 'vision_hidden_states.npy')); // [L+1, 1, 64, 32]
    assert.deepEqual(hs.shape, [3, 1, 64, 32]);
    const per = 64 * 32;
    for (let i = 0; i < 3; i++) {
      const want = (hs.data as Float32Array).subarray(i * per, (i + 1) * per);
      check(`${img} hidden_states[${i}]`, out.f32(`vision.hidden_states.${i}`, [1, 64, 32]).data, want);
    }
    const sel = readNpy(join(exp, 'vision_selected.npy')).data as Float32Array; // [1, 64, 32], no post-LN
    check(`${img} selected`, out.f32('vision.selected', [1, 64, 32]).data, sel);
    const feats = readNpy(join(exp, 'image_features.npy')).data as Float32Array; // [64, 48]
    check(`${img} image_features`, out.f32('crop_features', [1, 64, 48]).data, feats);
  }
  await session.release();
});
