// Golden test of the LLaVA image-path graph (after llm.c's test_gpt2.c): every hidden state, the selection and
// the projector output against the transformers 4.45.1 dumps in test/fixtures/llava, with maxdiff printed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigReader } from '../../config/reader.js';
import { parseLlavaConfig } from './config.js';
import { MissingTensorError } from '../../errors.js';
import { Session } from '../../runtime/session.js';
import { LocalSource } from '../../source/local.js';
import type { RawTensor } from '../../source/types.js';
import { parseNpy, type NpyArray } from '../../util/npy.js';
import { writeSafetensors } from '../../../test/helpers/safetensors-writer.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames, type LlavaVisionSpec } from './vision.js';

const FIX = 'test/fixtures/llava';
const IMAGES = ['gradient_37x23', 'checker_64x64', 'shapes_120x80', 'portrait_45x90'];
const TOL = 1e-4; // float32 ORT vs float32 torch; observed maxdiffs are ~1e-6

/** Reads a .npy through a plain Uint8Array copy (parseNpy's `slice` must copy, which Buffer#slice does not). */
function readNpy(path: string): NpyArray {
  return parseNpy(new Uint8Array(readFileSync(path)));
}

function specFor(model: string, over: Partial<LlavaVisionSpec> = {}): LlavaVisionSpec {
  const raw = JSON.parse(readFileSync(join(FIX, model, 'config.json'), 'utf8')) as Record<string, unknown>;
  const cfg = parseLlavaConfig(new ConfigReader(raw, `${model}/config.json`));
  return {
    tower: cfg.vision,
    featureLayer: cfg.featureLayer,
    strategy: cfg.strategy,
    projector: { act: cfg.projectorAct, textHidden: cfg.text.hiddenSize },
    ...over,
  };
}

async function loadGraph(dir: string, spec: LlavaVisionSpec, exposeHiddenStates = true) {
  const src = new LocalSource(dir);
  const names = llavaVisionTensorNames(spec, await src.tensorIndex(), dir);
  const tensors = await src.readTensors(names);
  const graph = buildLlavaVisionGraph(spec, tensors, { exposeHiddenStates, where: dir });
  return { names, graph, session: await Session.create(graph.model) };
}

/** pixel_values.npy is [1, crops, 3, S, S] for llava_next and [1, 3, S, S] for llava: feed it as [crops, 3, S, S]. */
function pixels(model: string, img: string): { data: Float32Array; shape: number[] } {
  const a = readNpy(join(FIX, model, 'expected', img, 'pixel_values.npy'));
  const s = a.shape;
  const shape = s.length === 5 ? s.slice(1) : s;
  return { data: a.data as Float32Array, shape };
}

function maxdiff(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m;
}

function check(label: string, got: Float32Array, want: Float32Array, tol = TOL): void {
  const d = maxdiff(got, want);
  console.log(`  ${label}: maxdiff ${d.toExponential(2)}`);
  assert.ok(d <= tol, `${label}: maxdiff ${d} > ${tol}`);
}

for (const model of ['tiny-llava', 'tiny-llava-next']) {
  test(`${model}: only layers up to vision_feature_layer are read, never post_layernorm`, () => {
    const spec = specFor(model);
    const index = new Map(
      JSON.parse(readFileSync(join(FIX, model, 'expected/model_summary.json'), 'utf8')).tensors.map(
        (t: { name: string; shape: number[]; dtype: 'F32' }) => [
          t.name,
          { name: t.name, shape: t.shape, dtype: t.dtype, file: 'x', begin: 0, end: 0 },
        ],
      ),
    ) as Map<string, import('../../source/types.js').TensorInfo>;
    const names = llavaVisionTensorNames(spec, index);
    assert.ok(names.some((n) => n.includes('encoder.layers.1.')));
    assert.ok(!names.some((n) => n.includes('encoder.layers.2.')), 'layer 2 is after hidden_states[-2]');
    assert.ok(!names.some((n) => n.includes('post_layernorm')));
    assert.ok(names.includes('multi_modal_projector.linear_2.bias'));
    assert.ok(!names.some((n) => n.startsWith('language_model') || n === 'image_newline'));
  });

  // feature layer -1 computes every layer, so every stored hidden state can be compared.
  for (const featureLayer of [-2, -1]) {
    test(`${model}: hidden states, selection and projector match transformers (vision_feature_layer ${featureLayer})`, async () => {
      const spec = specFor(model, { featureLayer });
      const { graph, session } = await loadGraph(join(FIX, model), spec);
      const L = spec.tower.numHiddenLayers;
      const upTo = featureLayer < 0 ? L + 1 + featureLayer : featureLayer;
      assert.equal(graph.tokensPerCrop, 64);
      for (const img of IMAGES) {
        const exp = join(FIX, model, 'expected', img);
        const px = pixels(model, img);
        const crops = px.shape[0];
        const out = await session.run({ pixel_values: px });
        const hs = readNpy(join(exp, 'vision_hidden_states.npy')); // [L+1, crops, 65, 32]
        assert.deepEqual(hs.shape, [L + 1, crops, 65, spec.tower.hiddenSize]);
        const per = crops * 65 * spec.tower.hiddenSize;
        for (let i = 0; i <= upTo; i++) {
          const want = (hs.data as Float32Array).subarray(i * per, (i + 1) * per);
          check(
            `${img} hidden_states[${i}]`,
            out.f32(`vision.hidden_states.${i}`, [crops, 65, 32]).data,
            want,
          );
        }
        if (featureLayer === -2) {
          const sel = readNpy(join(exp, 'vision_selected.npy')).data as Float32Array; // [crops, 64, 32]
          check(`${img} selected`, out.f32('vision.selected', [crops, 64, 32]).data, sel);
          const feats = out.f32('crop_features', [crops, 64, spec.projector.textHidden]).data;
          const file = model === 'tiny-llava' ? 'image_features.npy' : 'crop_features.npy';
          check(`${img} ${file}`, feats, readNpy(join(exp, file)).data as Float32Array);
        }
      }
      await session.release();
    });
  }
}

test("'full' strategy keeps CLS first; the other rows equal 'default'", async () => {
  const model = 'tiny-llava-next';
  const img = 'checker_64x64';
  const full = await loadGraph(join(FIX, model), specFor(model, { strategy: 'full' }));
  assert.equal(full.graph.tokensPerCrop, 65);
  const px = pixels(model, img);
  const crops = px.shape[0];
  const out = await full.session.run({ pixel_values: px });
  const hs = readNpy(join(FIX, model, 'expected', img, 'vision_hidden_states.npy')).data as Float32Array;
  const per = crops * 65 * 32;
  check(
    'full selected == hidden_states[2]',
    out.f32('vision.selected', [crops, 65, 32]).data,
    hs.subarray(2 * per, 3 * per),
  );
  const feats = out.f32('crop_features', [crops, 65, 48]).data;
  const want = readNpy(join(FIX, model, 'expected', img, 'crop_features.npy')).data as Float32Array; // [crops, 64, 48]
  const rows = new Float32Array(crops * 64 * 48);
  for (let c = 0; c < crops; c++) rows.set(feats.subarray((c * 65 + 1) * 48, (c + 1) * 65 * 48), c * 64 * 48);
  check('full crop_features[:, 1:] == default', rows, want);
  await full.session.release();
});

// ---------------------------------------------------------------- rewritten checkpoints

const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-graph-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Copies tiny-llava's config and weights to `dir`, renaming / reshaping / dropping tensors via `edit`. */
async function rewrite(
  dir: string,
  edit: (t: RawTensor) => { name: string; shape: number[]; data: Uint8Array } | null,
): Promise<void> {
  const src = new LocalSource(join(FIX, 'tiny-llava'));
  const index = await src.tensorIndex();
  const all = await src.readTensors([...index.keys()]);
  const out = [];
  for (const t of all.values()) {
    const e = edit(t);
    if (e) out.push({ ...e, dtype: t.info.dtype });
  }
  writeSafetensors(join(dir, 'model.safetensors'), out);
  writeFileSync(join(dir, 'config.json'), readFileSync(join(FIX, 'tiny-llava', 'config.json')));
}

test('newer `model.`-prefixed tensor naming (transformers >= 4.52) gives the same features', async () => {
  const dir = mkdtempSync(join(tmp, 'renamed-'));
  const rename = (n: string): string =>
    n
      .replace(/^vision_tower\./, 'model.vision_tower.')
      .replace(/^multi_modal_projector\./, 'model.multi_modal_projector.')
      .replace(/^language_model\.model\./, 'model.language_model.')
      .replace(/^language_model\.lm_head\./, 'lm_head.');
  await rewrite(dir, (t) => ({ name: rename(t.info.name), shape: t.info.shape, data: t.bytes }));
  const { names, session } = await loadGraph(dir, specFor('tiny-llava'), false);
  assert.ok(
    names.every((n) => n.startsWith('model.')),
    names.join(','),
  );
  const img = 'shapes_120x80';
  const out = await session.run({ pixel_values: pixels('tiny-llava', img) });
  const want = readNpy(join(FIX, 'tiny-llava/expected', img, 'image_features.npy')).data as Float32Array;
  check(`renamed ${img} image_features`, out.f32('crop_features', [1, 64, 48]).data, want);
  await session.release();
});

test('a mis-shaped tensor throws MissingTensorError naming it, with expected and got shapes', async () => {
  const dir = mkdtempSync(join(tmp, 'misshaped-'));
  const bad = 'vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight'; // [37, 32] in config
  await rewrite(dir, (t) =>
    t.info.name === bad
      ? { name: bad, shape: [36, 32], data: t.bytes.subarray(0, 36 * 32 * 4) }
      : { name: t.info.name, shape: t.info.shape, data: t.bytes },
  );
  const src = new LocalSource(dir);
  const spec = specFor('tiny-llava');
  assert.throws(
    () => llavaVisionTensorNames(spec, new Map()),
    (e: unknown) =>
      e instanceof MissingTensorError && /vision_tower\.vision_model\.embeddings/.test(e.message),
  );
  const index = await src.tensorIndex();
  assert.throws(
    () => llavaVisionTensorNames(spec, index, dir),
    (e: unknown) =>
      e instanceof MissingTensorError &&
      e.message.includes(bad) &&
      e.message.includes('[36, 32]') &&
      e.message.includes('expected [37, 32]'),
  );
  // The build path checks the tensors it is given, too.
  const good = new LocalSource(join(FIX, 'tiny-llava'));
  const tensors = await good.readTensors(llavaVisionTensorNames(spec, await good.tensorIndex()));
  const t = tensors.get(bad)!;
  tensors.set(bad, { info: { ...t.info, shape: [37, 31] }, bytes: t.bytes });
  assert.throws(
    () => buildLlavaVisionGraph(spec, tensors),
    (e: unknown) =>
      e instanceof MissingTensorError && e.message.includes(bad) && e.message.includes('[37, 31]'),
  );
});

test('a missing tensor throws MissingTensorError listing the names looked for', async () => {
  const dir = mkdtempSync(join(tmp, 'missing-'));
  const gone = 'multi_modal_projector.linear_2.bias';
  await rewrite(dir, (t) =>
    t.info.name === gone ? null : { name: t.info.name, shape: t.info.shape, data: t.bytes },
  );
  const index = await new LocalSource(dir).tensorIndex();
  assert.throws(
    () => llavaVisionTensorNames(specFor('tiny-llava'), index, dir),
    (e: unknown) =>
      e instanceof MissingTensorError &&
      e.message.includes(`tensor ${gone} [48] is missing`) &&
      e.message.includes('model.multi_modal_projector.linear_2.bias'),
  );
});
