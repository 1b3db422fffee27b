/**
 * Checkpoint variants the fixtures do not cover directly, built from tiny-llava in a temp dir: BF16 storage,
 * the newer (transformers >= 4.52) `model.`-prefixed tensor naming, tied embeddings (no lm_head tensor), and the
 * `full` feature strategy with the last layer. A BF16 checkpoint must give exactly what an F32 checkpoint holding
 * the same (BF16-rounded) values gives; a tied head must equal the dot product with embed_tokens.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadModel } from '../src/model.js';
import { LocalSource, tensorToFloat32 } from '../src/source/index.js';
import { assertClose } from './helpers/golden.js';
import {
  f32ToBf16Bits,
  u16Bytes,
  writeSafetensors,
  type WriterTensor,
} from './helpers/safetensors-writer.js';

const SRC = 'test/fixtures/llava/tiny-llava';
const IMAGE = 'test/fixtures/llava/images/portrait_45x90.jpg';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-variants-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NEWER: Array<[string, string]> = [
  ['language_model.model.', 'model.language_model.'],
  ['language_model.lm_head.', 'lm_head.'],
  ['vision_tower.', 'model.vision_tower.'],
  ['multi_modal_projector.', 'model.multi_modal_projector.'],
];

async function variant(
  name: string,
  opts: { dtype: 'F32' | 'BF16'; newer: boolean; tied: boolean },
): Promise<string> {
  const dir = join(tmp, name);
  const src = new LocalSource(SRC);
  const index = await src.tensorIndex();
  const raw = await src.readTensors([...index.keys()]);
  const tensors: WriterTensor[] = [];
  for (const [n, t] of [...raw].sort(([a], [b]) => a.localeCompare(b))) {
    if (opts.tied && n === 'language_model.lm_head.weight') continue;
    // Every variant holds the BF16-rounded values, so F32 and BF16 checkpoints are the same model.
    const bits = Array.from(tensorToFloat32(t), f32ToBf16Bits);
    // F32 storage of a BF16 value: the 16 bits shifted into the high half of the float32.
    const data =
      opts.dtype === 'BF16' ? u16Bytes(bits) : new Uint8Array(Uint32Array.from(bits, (b) => b << 16).buffer);
    let out = n;
    if (opts.newer) for (const [a, b] of NEWER) if (n.startsWith(a)) out = b + n.slice(a.length);
    tensors.push({ name: out, dtype: opts.dtype, shape: t.info.shape, data });
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const cfg = JSON.parse(readFileSync(join(SRC, 'config.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  cfg.vision_feature_select_strategy = 'full' as never;
  cfg.vision_feature_layer = -1 as never;
  cfg.text_config.tie_word_embeddings = opts.tied;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  for (const f of ['preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(SRC, f), join(dir, f));
  return dir;
}

test('BF16 + newer naming + tied + full strategy equals the F32 legacy checkpoint with the same values', async () => {
  const a = await loadModel(await variant('bf16-newer-tied', { dtype: 'BF16', newer: true, tied: true }));
  const b = await loadModel(await variant('f32-legacy-tied', { dtype: 'F32', newer: false, tied: true }));
  const c = await loadModel(await variant('f32-legacy-untied', { dtype: 'F32', newer: false, tied: false }));
  try {
    const fa = await a.encode(IMAGE);
    const fb = await b.encode(IMAGE);
    // 'full': the CLS token first (no box), then the 8x8 patches.
    assert.equal(fa.layout.tokens.length, 65);
    assert.equal(fa.layout.tokens[0].kind, 'cls');
    assert.equal(fa.layout.tokens[0].box, null);
    assert.equal(fa.layout.tokens[1].kind, 'patch');
    assert.deepEqual(fa.layout, fb.layout);
    assertClose(fa.features, fb.features, 0, 'BF16 vs F32 features');
    // Tied: logit-raw (lm_head) is the dot product with embed_tokens.
    const n = fa.layout.tokens.length;
    const raw = await a.lensEngine.run(fa.features, n, 'logit-raw', 5);
    const dot = await a.lensEngine.run(fa.features, n, 'dot', 5);
    assert.deepEqual(raw.ids, dot.ids);
    assertClose(raw.scores, dot.scores, 0, 'tied lm_head = dot');
    // An untied checkpoint whose lm_head is a different matrix gives different logits.
    const fc = await c.encode(IMAGE);
    const rawC = await c.lensEngine.run(fc.features, n, 'logit-raw', 5);
    assert.notDeepEqual(rawC.ids, raw.ids);
  } finally {
    await a.close();
    await b.close();
    await c.close();
  }
});
