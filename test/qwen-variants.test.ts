/**
 * Qwen2.5-VL checkpoint layouts the 5.12.1 fixture does not have, built from tiny-qwen2_5-vl in a temp dir: the hub's
 * flat config.json (text settings at the top level, `rope_scaling {type: mrope}`), `preprocessor_config.json` with
 * min_pixels / max_pixels instead of 5.x's nested processor_config.json, BF16 storage, the >= 4.52 tensor naming
 * (`model.visual.`, `model.language_model.`), and tied embeddings (no lm_head tensor). A BF16 checkpoint must give
 * exactly what an F32 checkpoint holding the same (BF16-rounded) values gives, whatever the file layout.
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

const SRC = 'test/fixtures/modern/tiny-qwen2_5-vl';
const IMAGE = 'test/fixtures/modern/images/shapes_120x80.png';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-qwen-variants-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;

async function variant(
  name: string,
  opts: { dtype: 'F32' | 'BF16'; hubLayout: boolean; tied: boolean },
): Promise<string> {
  const dir = join(tmp, name);
  const src = new LocalSource(SRC);
  const raw = await src.readTensors([...(await src.tensorIndex()).keys()]);
  const tensors: WriterTensor[] = [];
  for (const [n, t] of [...raw].sort(([a], [b]) => a.localeCompare(b))) {
    if (opts.tied && n === 'lm_head.weight') continue;
    const bits = Array.from(tensorToFloat32(t), f32ToBf16Bits);
    const data =
      opts.dtype === 'BF16' ? u16Bytes(bits) : new Uint8Array(Uint32Array.from(bits, (b) => b << 16).buffer);
    // The >= 4.52 naming for the hub-layout variant; 5.12's save_pretrained writes the legacy one (the fixture).
    const out = !opts.hubLayout
      ? n
      : n.startsWith('visual.')
        ? `model.${n}`
        : n.startsWith('model.')
          ? `model.language_model.${n.slice('model.'.length)}`
          : n;
    tensors.push({ name: out, dtype: opts.dtype, shape: t.info.shape, data });
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const cfg = readJson(join(SRC, 'config.json'));
  const proc = readJson(join(SRC, 'processor_config.json'));
  if (opts.hubLayout) {
    const text = cfg.text_config as Json;
    const rope = text.rope_parameters as Json;
    delete cfg.text_config;
    delete text.rope_parameters;
    Object.assign(cfg, text, {
      model_type: 'qwen2_5_vl',
      rope_theta: rope.rope_theta,
      rope_scaling: { type: 'mrope', mrope_section: rope.mrope_section },
      tie_word_embeddings: opts.tied,
    });
    const ip = proc.image_processor as Json;
    const size = ip.size as Json;
    delete ip.size;
    writeFileSync(
      join(dir, 'preprocessor_config.json'),
      JSON.stringify({ ...ip, min_pixels: size.shortest_edge, max_pixels: size.longest_edge }),
    );
  } else {
    (cfg.text_config as Json).tie_word_embeddings = opts.tied;
    cfg.tie_word_embeddings = opts.tied;
    writeFileSync(join(dir, 'processor_config.json'), JSON.stringify(proc));
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SRC, f), join(dir, f));
  return dir;
}

test('Qwen2.5-VL: BF16 + hub layout (flat config, preprocessor_config.json, model.visual.*) + tied = the F32 5.x layout', async () => {
  // The fixture's features come from the Pillow backend's pixels.
  const pil = { imageBackend: 'pil' } as const;
  const a = await loadModel(
    await variant('bf16-hub-tied', { dtype: 'BF16', hubLayout: true, tied: true }),
    pil,
  );
  const b = await loadModel(
    await variant('f32-v5-tied', { dtype: 'F32', hubLayout: false, tied: true }),
    pil,
  );
  const c = await loadModel(
    await variant('f32-v5-untied', { dtype: 'F32', hubLayout: false, tied: false }),
    pil,
  );
  try {
    const fa = await a.encode(IMAGE);
    const fb = await b.encode(IMAGE);
    assert.equal(fa.layout.tokens.length, 247);
    assert.deepEqual(fa.layout, fb.layout);
    assertClose(fa.pixelValues, fb.pixelValues, 0, 'pixel_values from both processor layouts');
    assertClose(fa.features, fb.features, 0, 'BF16 vs F32 features');
    // BF16-rounded weights still land near the F32 fixture (a sanity bound, not a conformance claim).
    const want = npyF32(`${SRC}/expected/shapes_120x80/image_features.npy`).data;
    let m = 0;
    for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(fa.features[i] - want[i]));
    assert.ok(m > 0 && m < 0.5, `BF16 features vs the F32 fixture: maxdiff ${m}`);
    // Tied: logit-raw (lm_head) is the dot product with embed_tokens; the untied head differs.
    const n = fa.layout.tokens.length;
    const raw = await a.lensEngine.run(fa.features, n, 'logit-raw', 5);
    const dot = await a.lensEngine.run(fa.features, n, 'dot', 5);
    assert.deepEqual(raw.ids, dot.ids);
    assertClose(raw.scores, dot.scores, 0, 'tied lm_head = dot');
    const fc = await c.encode(IMAGE);
    const rawC = await c.lensEngine.run(fc.features, n, 'logit-raw', 5);
    assert.notDeepEqual(rawC.ids, raw.ids);
  } finally {
    await a.close();
    await b.close();
    await c.close();
  }
});
