/**
 * Gemma 3 / Gemma 4 checkpoint layouts the 5.12.1 fixtures do not have, built from tiny-gemma3 / tiny-gemma4 in a
 * temp dir: BF16 storage (Gemma 4's scalar clip bounds included), the google/gemma-3-*-it hub layout
 * (`vision_tower.vision_model.*`, a flat preprocessor_config.json with null pan-and-scan fields, a flat
 * processor_config.json, text_config with rope_scaling / rope_local_base_freq / sliding_window_pattern instead of
 * rope_parameters / layer_types), and an RGBA image (alpha dropped, not composited, as PIL convert("RGB") does).
 * A BF16 checkpoint must give exactly what an F32 checkpoint holding the same (BF16-rounded) values gives.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { loadModel } from '../src/model.js';
import { LocalSource, tensorToFloat32 } from '../src/source/index.js';
import { assertClose, assertCloseScaled, npyF32 } from './helpers/golden.js';
import {
  f32ToBf16Bits,
  u16Bytes,
  writeSafetensors,
  type WriterTensor,
} from './helpers/safetensors-writer.js';

const IMAGE = 'test/fixtures/modern/images/shapes_120x80.png';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-gemma-variants-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Json;

async function variant(
  src: string,
  name: string,
  opts: { dtype: 'F32' | 'BF16'; round: boolean; hubLayout: boolean; bareLinear?: boolean },
): Promise<string> {
  const dir = join(tmp, name);
  const s = new LocalSource(src);
  const raw = await s.readTensors([...(await s.tensorIndex()).keys()]);
  const tensors: WriterTensor[] = [];
  for (const [n, t] of [...raw].sort(([a], [b]) => a.localeCompare(b))) {
    const f = tensorToFloat32(t);
    const bits = Array.from(f, f32ToBf16Bits);
    const data =
      opts.dtype === 'BF16'
        ? u16Bytes(bits)
        : opts.round
          ? new Uint8Array(Uint32Array.from(bits, (b) => b << 16).buffer)
          : new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    let out =
      opts.hubLayout && n.startsWith('vision_tower.') ? `vision_tower.vision_model.${n.slice(13)}` : n;
    if (opts.bareLinear) out = out.replace('.linear.weight', '.weight');
    tensors.push({ name: out, dtype: opts.dtype, shape: t.info.shape, data });
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const cfg = readJson(join(src, 'config.json'));
  const proc = readJson(join(src, 'processor_config.json'));
  if (opts.hubLayout) {
    const text = cfg.text_config as Json;
    const rope = text.rope_parameters as Record<string, Json>;
    delete text.rope_parameters;
    delete text.layer_types;
    delete text._sliding_window_pattern;
    Object.assign(text, {
      rope_theta: rope.full_attention.rope_theta,
      rope_scaling: { rope_type: 'linear', factor: rope.full_attention.factor },
      rope_local_base_freq: rope.sliding_attention.rope_theta,
      sliding_window_pattern: 2,
      final_logit_softcapping: 30, // configured, never applied by Gemma3ForConditionalGeneration
    });
    const ip = proc.image_processor as Json;
    const nulls = {
      do_pan_and_scan: null,
      pan_and_scan_min_crop_size: null,
      pan_and_scan_max_num_crops: null,
    };
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ ...ip, ...nulls }));
    writeFileSync(
      join(dir, 'processor_config.json'),
      JSON.stringify({ image_seq_length: proc.image_seq_length, processor_class: proc.processor_class }),
    );
  } else {
    writeFileSync(join(dir, 'processor_config.json'), JSON.stringify(proc));
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(src, f), join(dir, f));
  return dir;
}

test('Gemma 3: hub layout (vision_tower.vision_model.*, flat preprocessor_config.json, rope_scaling) = the fixture; BF16 = F32 of the rounded values', async () => {
  const SRC = 'test/fixtures/modern/tiny-gemma3';
  const hub = await loadModel(await variant(SRC, 'g3-hub', { dtype: 'F32', round: false, hubLayout: true }));
  const bf = await loadModel(await variant(SRC, 'g3-bf16', { dtype: 'BF16', round: true, hubLayout: true }));
  const rf = await loadModel(await variant(SRC, 'g3-f32r', { dtype: 'F32', round: true, hubLayout: false }));
  try {
    const f = await hub.encode(IMAGE);
    const want = npyF32(`${SRC}/expected/shapes_120x80/image_features.npy`).data;
    const d = assertCloseScaled(f.features, want, 1e-4, 'hub-layout image_features');
    console.log(`  hub layout vs fixture: maxdiff ${d.toExponential(2)}`);
    assert.equal(f.layout.specials?.length, 2);
    const fb = await bf.encode(IMAGE);
    const fr = await rf.encode(IMAGE);
    assertClose(fb.features, fr.features, 0, 'BF16 vs F32 (rounded) features');
  } finally {
    await hub.close();
    await bf.close();
    await rf.close();
  }
});

test('Gemma 4: clipped linears stored as bare <proj>.weight (no .linear) give the fixture features', async () => {
  const SRC = 'test/fixtures/modern/tiny-gemma4';
  const m = await loadModel(
    await variant(SRC, 'g4-bare', { dtype: 'F32', round: false, hubLayout: false, bareLinear: true }),
  );
  try {
    const f = await m.encode(IMAGE);
    const want = npyF32(`${SRC}/expected/shapes_120x80/image_features.npy`).data;
    const d = assertCloseScaled(f.features, want, 1e-4, 'bare-linear image_features');
    console.log(`  bare .weight vs fixture: maxdiff ${d.toExponential(2)}`);
  } finally {
    await m.close();
  }
});

test('Gemma 4: BF16 storage (scalar clip bounds included) = F32 of the rounded values', async () => {
  const SRC = 'test/fixtures/modern/tiny-gemma4';
  const bf = await loadModel(await variant(SRC, 'g4-bf16', { dtype: 'BF16', round: true, hubLayout: false }));
  const rf = await loadModel(await variant(SRC, 'g4-f32r', { dtype: 'F32', round: true, hubLayout: false }));
  try {
    const fb = await bf.encode(IMAGE);
    const fr = await rf.encode(IMAGE);
    assert.equal(fb.layout.tokens.length, 60);
    assertClose(fb.features, fr.features, 0, 'BF16 vs F32 (rounded) features');
  } finally {
    await bf.close();
    await rf.close();
  }
});

test('Gemma 3 / 4: an RGBA image is its RGB channels (alpha dropped, not composited)', async () => {
  const { data, info } = await sharp(IMAGE).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgba = Buffer.alloc(info.width * info.height * 4);
  for (let i = 0; i < info.width * info.height; i++) {
    data.copy(rgba, i * 4, i * 3, i * 3 + 3);
    rgba[i * 4 + 3] = (i * 7) % 256; // varying alpha, some fully transparent
  }
  const png = await sharp(rgba, { raw: { width: info.width, height: info.height, channels: 4 } })
    .png()
    .toBuffer();
  const rgbPng = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .png()
    .toBuffer();
  for (const dir of ['test/fixtures/modern/tiny-gemma3', 'test/fixtures/modern/tiny-gemma4']) {
    const m = await loadModel(dir);
    try {
      const a = await m.encode(new Uint8Array(png));
      const b = await m.encode(new Uint8Array(rgbPng));
      assertClose(a.pixelValues, b.pixelValues, 0, `${dir}: RGBA pixel_values = RGB`);
      assertClose(a.features, b.features, 0, `${dir}: RGBA features = RGB`);
    } finally {
      await m.close();
    }
  }
});
