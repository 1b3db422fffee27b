/**
 * `--dump-tensors` for InternVL, end to end through the command: pixel_values.npy has the processor's shape
 * ([n_tiles, 3, T, T]; the default torchvision backend's values bit for bit, `--image-backend pil` the Pillow
 * backend's) and image_features.npy is [n_image_tokens, text_hidden], the rows scattered into inputs_embeds, against
 * the transformers 5.12.1 fixture (tiny-internvl).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assertCloseScaled, npyF32 } from '../helpers/golden.js';

const FIX = 'test/fixtures/modern/tiny-internvl';
const tmp = mkdtempSync(join(tmpdir(), 'imgtokens-internvl-dump-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const backend of ['torchvision', 'pil'] as const) {
  test(`--dump-tensors (tiny-internvl, ${backend}): pixel_values 3x3x32x32, image_features 48x48`, () => {
    const out = join(tmp, backend);
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'test/fixtures/arch/images/portrait_45x90.jpg',
        '--model',
        FIX,
        '--image-backend',
        backend,
        '--dump-tensors',
        out,
        '-q',
      ],
      { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: join(tmp, 'hf') } },
    );
    assert.equal(r.status, 0, r.stderr);
    const exp = `${FIX}/expected/portrait_45x90`;
    const sfx = backend === 'pil' ? '_pil' : '';
    const px = npyF32(join(out, 'pixel_values.npy'));
    assert.deepEqual(px.shape, [3, 3, 32, 32]);
    assertCloseScaled(px.data, npyF32(`${exp}/pixel_values${sfx}.npy`).data, 0, 'pixel_values');
    const feats = npyF32(join(out, 'image_features.npy'));
    assert.deepEqual(feats.shape, [48, 48]);
    assertCloseScaled(feats.data, npyF32(`${exp}/image_features${sfx}.npy`).data, 1e-4, 'image_features');
    const layout = JSON.parse(readFileSync(join(out, 'layout.json'), 'utf8')) as {
      modelType: string;
      tokens: unknown[];
      specials: Array<{ text: string }>;
    };
    assert.equal(layout.modelType, 'internvl');
    assert.equal(layout.tokens.length, 48);
    assert.deepEqual(
      layout.specials.map((s) => s.text),
      ['<img>', '</img>'],
    );
  });
}
