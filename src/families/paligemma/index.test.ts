// PaliGemma against the transformers 4.45.1 dumps in test/fixtures/arch/tiny-paligemma, stage by stage
// (hidden states, post-LN last_hidden_state, projector, / sqrt(hidden), Gemma's layer-0 scaling) with maxdiff
// printed; config defaults; which tensors are read; the SigLIP processor; the vocabulary space of each lens method.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Lens } from '../../lens/index.js';
import { clipPreprocess, type ClipProcessorSpec } from '../../image/clip.js';
import { loadImage } from '../../image/decode.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import { parseNpy } from '../../util/npy.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import { parseProcessorConfig } from '../index.js';
import { llavaProcessorImageTokens } from '../llava/index.js';
import { f32Sqrt } from '../../text/models.js';
import { parsePaliGemmaConfig } from './config.js';
import { PALIGEMMA_STAGES, buildPaliGemmaVisionGraph, paliGemmaVisionTensorNames } from './vision.js';

const DIR = 'test/fixtures/arch/tiny-paligemma';
const IMAGES_DIR = 'test/fixtures/arch/images';
const TOL = 1e-4;
const images = readdirSync(join(DIR, 'expected'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

function npy(path: string): { data: Float32Array; shape: number[] } {
  const a = parseNpy(new Uint8Array(readFileSync(path)));
  if (a.data instanceof Uint8Array) return { data: Float32Array.from(a.data), shape: a.shape };
  return { data: a.data as Float32Array, shape: a.shape };
}

function json(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

function config() {
  return parsePaliGemmaConfig(new ConfigReader(json(join(DIR, 'config.json')), 'tiny-paligemma/config.json'));
}

function check(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL): number {
  assert.equal(got.length, want.length, `${label}: length`);
  let d = 0;
  for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
  console.log(`  ${label}: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${label}: maxdiff ${d} > ${tol}`);
  return d;
}

const lenses: Lens[] = [];
after(async () => {
  for (const l of lenses) await l.release?.();
});

test('config: PaliGemmaConfig / SiglipVisionConfig / GemmaConfig defaults applied', () => {
  const c = config();
  assert.equal(c.vision.modelType, 'siglip_vision_model');
  assert.equal(c.vision.hiddenAct, 'gelu_pytorch_tanh'); // omitted: SiglipVisionConfig default
  assert.equal(c.vision.layerNormEps, 1e-6);
  assert.equal(c.vision.imageSize / c.vision.patchSize, 7);
  assert.equal(c.text.modelType, 'gemma');
  assert.equal(c.text.rmsNormEps, 1e-6); // omitted: GemmaConfig default
  assert.equal(c.text.tieWordEmbeddings, true); // omitted: GemmaConfig default
  assert.equal(c.text.vocabSize, 512);
  assert.equal(c.hiddenSize, 48);
  assert.equal(c.projectionDim, 48);
  assert.equal(c.imageTokenIndex, 510);
  // An empty config is paligemma-3b-224: SigLIP-So400m/14 at 224 and Gemma-2B.
  const d = parsePaliGemmaConfig(new ConfigReader({ model_type: 'paligemma' }, 'empty'));
  assert.deepEqual(
    [d.vision.hiddenSize, d.vision.numHiddenLayers, d.vision.patchSize, d.vision.imageSize],
    [1152, 27, 14, 224],
  );
  assert.deepEqual([d.text.hiddenSize, d.text.numHiddenLayers, d.text.vocabSize], [2048, 18, 257152]);
  assert.deepEqual([d.hiddenSize, d.projectionDim, d.imageTokenIndex], [2048, 2048, 256000]);
  // A vision_config without model_type is SigLIP (PaliGemmaConfig.__init__), not CLIP.
  const v = parsePaliGemmaConfig(
    new ConfigReader({ vision_config: { hidden_size: 64, num_attention_heads: 4 } }, 'v'),
  );
  assert.equal(v.vision.modelType, 'siglip_vision_model');
  assert.equal(v.vision.patchSize, 16);
});

test('tensors read: SigLIP embeddings, every layer, post_layernorm, the linear projector; nothing else', async () => {
  const index = await new LocalSource(DIR).tensorIndex();
  const names = paliGemmaVisionTensorNames(config(), index, DIR);
  assert.ok(names.includes('vision_tower.vision_model.post_layernorm.weight'));
  assert.ok(names.includes('vision_tower.vision_model.embeddings.patch_embedding.bias'));
  assert.ok(names.includes('multi_modal_projector.linear.weight'));
  assert.ok(names.includes('multi_modal_projector.linear.bias'));
  assert.ok(names.some((n) => n.includes('encoder.layers.1.')));
  assert.ok(!names.some((n) => n.includes('.head.') || n.startsWith('language_model')));
});

test('stages match transformers: hidden states, last_hidden_state, projector, / sqrt(hidden), layer 0', async () => {
  const cfg = config();
  const src = new LocalSource(DIR);
  const tensors = await src.readTensors(paliGemmaVisionTensorNames(cfg, await src.tensorIndex(), DIR));
  const expose = [
    'vision.embeddings',
    'vision.layer.0.out',
    'vision.layer.1.out',
    PALIGEMMA_STAGES.selected,
    PALIGEMMA_STAGES.projector,
    PALIGEMMA_STAGES.imageFeatures,
  ];
  const graph = buildPaliGemmaVisionGraph(cfg, tensors, { expose, where: DIR });
  assert.equal(graph.tokensPerCrop, 49);
  const session = await Session.create(graph.model);
  for (const img of images) {
    const exp = join(DIR, 'expected', img);
    const px = npy(join(exp, 'pixel_values.npy'));
    const out = await session.run({ pixel_values: px });
    const hs = npy(join(exp, 'vision_hidden_states.npy')); // [3, 1, 49, 32]
    const per = 49 * 32;
    ['vision.embeddings', 'vision.layer.0.out', 'vision.layer.1.out'].forEach((name, i) => {
      check(`${img} hidden_states[${i}]`, out.f32(name).data, hs.data.subarray(i * per, (i + 1) * per));
    });
    check(
      `${img} last_hidden_state`,
      out.f32(PALIGEMMA_STAGES.selected).data,
      npy(join(exp, 'vision_selected.npy')).data,
    );
    check(
      `${img} projector_output`,
      out.f32(PALIGEMMA_STAGES.projector).data,
      npy(join(exp, 'projector_output.npy')).data,
    );
    check(
      `${img} image_features (inputs_embeds rows)`,
      out.f32(PALIGEMMA_STAGES.imageFeatures).data,
      npy(join(exp, 'image_features.npy')).data,
    );
    check(
      `${img} image_features_scaled (Gemma hidden_states[0])`,
      out.f32('crop_features', [1, 49, 48]).data,
      npy(join(exp, 'image_features_scaled.npy')).data,
    );
  }
  await session.release();
});

test('normalizer and embedding scale are float32(sqrt(hidden)), as torch and embed_tokens_scaled.npy', () => {
  const meta = json(join(DIR, 'expected', images[0], 'expected.json'));
  const gs = meta['gemma_scaling'] as { normalizer: number };
  assert.equal(f32Sqrt(48), gs.normalizer);
  const e = npy(join(DIR, 'expected/embed_tokens.npy')).data;
  const es = npy(join(DIR, 'expected/embed_tokens_scaled.npy')).data;
  const scaled = e.map((v) => v * f32Sqrt(48)); // Float32Array.map rounds each product to float32
  assert.deepEqual(scaled, es);
});

test('SiglipImageProcessor: direct 28x28 bicubic, mean = std = 0.5; pixels and uint8 crops bit-exact', async () => {
  const spec = parseProcessorConfig(
    json(join(DIR, 'preprocessor_config.json')),
    'preprocessor_config.json',
  ) as ClipProcessorSpec;
  assert.equal(spec.type, 'SiglipImageProcessor');
  assert.equal(spec.processorClass, 'SiglipImageProcessor');
  assert.equal(spec.doCenterCrop, false);
  assert.deepEqual(spec.size, { height: 28, width: 28 });
  assert.equal(spec.resample, 'bicubic');
  assert.deepEqual(spec.imageMean, [0.5, 0.5, 0.5]);
  // The class defaults when the file omits everything.
  const d = parseProcessorConfig({ image_processor_type: 'SiglipImageProcessor' }) as ClipProcessorSpec;
  assert.ok(d.type === 'SiglipImageProcessor' && 'height' in d.size && d.size.height === 224);
  assert.throws(
    () =>
      parseProcessorConfig({ image_processor_type: 'SiglipImageProcessor', size: { shortest_edge: 224 } }),
    /needs "size": \{"height", "width"\}/,
  );
  for (const img of images) {
    const file = readdirSync(IMAGES_DIR).find((f) => f.startsWith(img) && !f.endsWith('.npy'))!;
    const rgb = (await loadImage(join(IMAGES_DIR, file))).image;
    const pre = clipPreprocess(rgb, spec);
    assert.deepEqual(pre.shape, [1, 3, 28, 28]);
    const exp = join(DIR, 'expected', img);
    check(`${img} crops_uint8`, pre.cropsUint8, npy(join(exp, 'crops_uint8.npy')).data, 0);
    check(`${img} pixel_values`, pre.pixelValues, npy(join(exp, 'pixel_values.npy')).data, 0);
    // The whole image is squashed into the square: the crop maps back onto the full original.
    const m = pre.geometry.crops[0].toOriginal;
    assert.deepEqual(m, { sx: rgb.width / 28, sy: rgb.height / 28, tx: 0, ty: 0 });
  }
});

test('lens spaces: the unscaled fixtures pair image_features with embed_tokens, the scaled ones layer 0', async () => {
  // Sanity check of the docs/families.md choice with the Lens alone: feeding image_features with embedScale 1
  // reproduces the unscaled fixtures, and the model's layer-0 features with embedScale sqrt(H) the `_scaled` ones.
  const dir = join(DIR, 'expected');
  const embed = npy(join(dir, 'embed_tokens.npy')).data;
  const normWeight = npy(join(dir, 'final_norm_weight.npy')).data;
  const base = { embed, normWeight, rmsEps: 1e-6, vocab: 512, hidden: 48, normKind: 'rms1p' as const };
  const raw = Lens.create({ ...base, threads: 1 });
  const scaled = Lens.create({ ...base, embedScale: f32Sqrt(48), threads: 1 });
  lenses.push(raw, scaled);
  const img = join(dir, images[0]);
  const f = npy(join(img, 'image_features.npy')).data;
  const f0 = npy(join(img, 'image_features_scaled.npy')).data;
  const pairs: Array<[Lens, Float32Array, 'dot' | 'l2' | 'logit', string]> = [
    [raw, f, 'dot', 'dot'],
    [raw, f, 'l2', 'l2'],
    [raw, f, 'logit', 'lm_head_normed'],
    [scaled, f0, 'dot', 'dot_scaled'],
    [scaled, f0, 'l2', 'l2_scaled'],
    [scaled, f0, 'logit', 'lm_head_normed_scaled'],
  ];
  for (const [lens, feats, method, fx] of pairs) {
    const top = await lens.run(feats, 49, method, 10);
    const want = npy(join(img, `topk_${fx}_scores.npy`)).data;
    check(`${fx} scores`, top.scores, want);
  }
  // Mixing the spaces (projector output vs raw embed_tokens) is the pitfall the README warns about.
  const proj = npy(join(img, 'projector_output.npy')).data;
  const mixed = await raw.run(proj, 49, 'l2', 10);
  const l2ids = parseNpy(new Uint8Array(readFileSync(join(img, 'topk_l2_ids.npy')))).data as BigInt64Array;
  let differ = 0;
  for (let t = 0; t < 49; t++) {
    const a = Array.from(mixed.ids.subarray(t * 10, t * 10 + 10)).join();
    const b = Array.from(l2ids.subarray(t * 10, t * 10 + 10), Number).join();
    if (a !== b) differ++;
  }
  assert.ok(differ > 40, `mixing spaces should change most l2 rows, changed ${differ}`);
});

test("LlavaProcessor 4.45's count for tiny-llava-siglip: one more than the model's 64 vectors", () => {
  const dir = 'test/fixtures/arch/tiny-llava-siglip';
  const proc = json(join(dir, 'processor_config.json'));
  for (const img of readdirSync(join(dir, 'expected'))) {
    if (img.endsWith('.json') || img.endsWith('.npy')) continue;
    const meta = json(join(dir, 'expected', img, 'expected.json'));
    const n = llavaProcessorImageTokens(32, 32, proc['patch_size'] as number, 'full');
    assert.equal(n, meta['processor_inserted_image_tokens']);
    assert.equal(n - 1, meta['n_image_tokens']);
  }
});
