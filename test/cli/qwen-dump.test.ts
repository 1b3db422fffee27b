/**
 * `--dump-tensors` for the Qwen2.5-VL and Qwen3-VL families, end to end through the command: pixel_values.npy has the
 * processor's shape ([patches, C*T*p*p], the Pillow backend's values bit for bit) and image_features.npy is
 * [n_image_tokens, text_hidden], the rows scattered into inputs_embeds, against the transformers 5.12.1 fixtures.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assertClose, npyF32 } from '../helpers/golden.js';

const FIX = 'test/fixtures/modern';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-qwen-dump-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const cases: Array<[string, string, number[], number[]]> = [
  ['tiny-qwen2_5-vl', 'portrait_45x90.jpg', [968, 24], [242, 48]],
  ['tiny-qwen3-vl', 'shapes_120x80.png', [216, 96], [54, 48]],
];

for (const [model, image, pixelShape, featureShape] of cases) {
  test(`--dump-tensors (${model}): pixel_values ${pixelShape.join('x')}, image_features ${featureShape.join('x')}`, () => {
    const out = join(tmp, model);
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        `${FIX}/images/${image}`,
        '--model',
        `${FIX}/${model}`,
        '--image-backend',
        'pil', // the stages are computed from the Pillow backend's pixels
        '--dump-tensors',
        out,
        '-q',
      ],
      { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') } },
    );
    assert.equal(r.status, 0, r.stderr);
    const exp = `${FIX}/${model}/expected/${image.replace(/\.\w+$/, '')}`;
    const px = npyF32(join(out, 'pixel_values.npy'));
    assert.deepEqual(px.shape, pixelShape);
    assertClose(px.data, npyF32(`${exp}/pixel_values_pil.npy`).data, 0, 'pixel_values (Pillow backend)');
    const feats = npyF32(join(out, 'image_features.npy'));
    assert.deepEqual(feats.shape, featureShape);
    assertClose(feats.data, npyF32(`${exp}/image_features.npy`).data, 1e-4, 'image_features');
    const layout = JSON.parse(readFileSync(join(out, 'layout.json'), 'utf8')) as {
      modelType: string;
      tokens: unknown[];
    };
    assert.equal(layout.tokens.length, featureShape[0]);
    assert.equal(layout.modelType, model === 'tiny-qwen3-vl' ? 'qwen3_vl' : 'qwen2_5_vl');
  });
}
