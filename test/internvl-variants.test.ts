/**
 * InternVL checkpoint layouts the 5.12.1 fixture does not have, built from tiny-internvl in a temp dir: BF16 storage
 * with the in-memory tensor names (`model.vision_tower.*`, `model.multi_modal_projector.*`, `model.language_model.*`,
 * `lm_head.weight`) and a flat `preprocessor_config.json` (hub repos converted with 4.x), untied (an lm_head of its
 * own) and a 4-tile cap (`max_patches: 4`). BF16 storage must give exactly what an F32 checkpoint holding the same
 * (BF16-rounded) values gives; the untied head must be read and used by logit-raw.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadModel } from '../src/model.js';
import { LocalSource, tensorToFloat32 } from '../src/source/index.js';
import { assertClose, npyF32 } from './helpers/golden.js';
import {
  f32ToBf16Bits,
  u16Bytes,
  writeSafetensors,
  type WriterTensor,
} from './helpers/safetensors-writer.js';

const SRC = 'test/fixtures/modern/tiny-internvl';
const IMAGE = 'test/fixtures/arch/images/shapes_120x80.png';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-internvl-variants-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;

const IN_MEMORY: Array<[string, string]> = [
  ['language_model.model.', 'model.language_model.'],
  ['vision_tower.', 'model.vision_tower.'],
  ['multi_modal_projector.', 'model.multi_modal_projector.'],
];

async function variant(
  name: string,
  opts: { dtype: 'F32' | 'BF16'; hubLayout: boolean; maxPatches?: number },
): Promise<string> {
  const dir = join(tmp, name);
  const src = new LocalSource(SRC);
  const raw = await src.readTensors([...(await src.tensorIndex()).keys()]);
  const tensors: WriterTensor[] = [];
  const push = (n: string, shape: number[], f32: Float32Array) => {
    const bits = Array.from(f32, f32ToBf16Bits);
    const data =
      opts.dtype === 'BF16' ? u16Bytes(bits) : new Uint8Array(Uint32Array.from(bits, (b) => b << 16).buffer);
    const pre = opts.hubLayout ? IN_MEMORY.find(([from]) => n.startsWith(from)) : undefined;
    tensors.push({ name: pre ? pre[1] + n.slice(pre[0].length) : n, dtype: opts.dtype, shape, data });
  };
  for (const [n, t] of [...raw].sort(([a], [b]) => a.localeCompare(b)))
    push(n, t.info.shape, tensorToFloat32(t));
  // an untied head: the embedding matrix reversed row by row (another matrix of the same shape)
  const emb = raw.get('language_model.model.embed_tokens.weight')!;
  const [V, H] = emb.info.shape;
  const e = tensorToFloat32(emb);
  const head = new Float32Array(V * H);
  for (let v = 0; v < V; v++) head.set(e.subarray((V - 1 - v) * H, (V - v) * H), v * H);
  push(opts.hubLayout ? 'lm_head.weight' : 'language_model.lm_head.weight', [V, H], head);
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const cfg = readJson(join(SRC, 'config.json'));
  cfg.tie_word_embeddings = false;
  (cfg.text_config as Json).tie_word_embeddings = false;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const proc = readJson(join(SRC, 'processor_config.json'));
  const ip = {
    ...(proc.image_processor as Json),
    ...(opts.maxPatches ? { max_patches: opts.maxPatches } : {}),
  };
  if (opts.hubLayout) {
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(ip));
    writeFileSync(
      join(dir, 'processor_config.json'),
      JSON.stringify({ image_seq_length: 16, processor_class: 'InternVLProcessor' }),
    );
  } else {
    writeFileSync(join(dir, 'processor_config.json'), JSON.stringify({ ...proc, image_processor: ip }));
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SRC, f), join(dir, f));
  return dir;
}

test('InternVL: BF16 + in-memory names + flat preprocessor_config.json + untied = the F32 5.x layout', async () => {
  const a = await loadModel(await variant('bf16-hub', { dtype: 'BF16', hubLayout: true }));
  const b = await loadModel(await variant('f32-v5', { dtype: 'F32', hubLayout: false }));
  try {
    const fa = await a.encode(IMAGE);
    const fb = await b.encode(IMAGE);
    assert.equal(fa.layout.tokens.length, 112);
    assert.deepEqual(fa.layout, fb.layout);
    assertClose(fa.pixelValues, fb.pixelValues, 0, 'pixel_values from both processor layouts');
    assertClose(fa.features, fb.features, 0, 'BF16 vs F32 features');
    const want = npyF32(`${SRC}/expected/shapes_120x80/image_features.npy`).data;
    let m = 0;
    for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(fa.features[i] - want[i]));
    assert.ok(m > 0 && m < 0.5, `BF16 features vs the F32 fixture: maxdiff ${m}`);
    // Untied: logit-raw reads the checkpoint's own lm_head, not embed_tokens.
    const n = fa.layout.tokens.length;
    const raw = await a.lensEngine.run(fa.features, n, 'logit-raw', 5);
    const dot = await a.lensEngine.run(fa.features, n, 'dot', 5);
    assert.notDeepEqual(raw.ids, dot.ids);
    const rawB = await b.lensEngine.run(fb.features, n, 'logit-raw', 5);
    assert.deepEqual(raw.ids, rawB.ids);
  } finally {
    await a.close();
    await b.close();
  }
});

test('InternVL: max_patches 4 caps the grid (shapes 120x80: 2x2 + thumbnail instead of 3x2 + thumbnail)', async () => {
  const m = await loadModel(await variant('cap4', { dtype: 'F32', hubLayout: false, maxPatches: 4 }));
  try {
    const f = await m.encode(IMAGE);
    assert.deepEqual(f.pixelShape, [5, 3, 32, 32]);
    assert.deepEqual(
      f.layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
      [
        ['grid', 8, 8, 0, 64],
        ['base', 4, 4, 64, 16],
      ],
    );
  } finally {
    await m.close();
  }
});
