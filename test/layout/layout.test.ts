// Token layout tests: expected.json's token_layout / newline positions / packed length for both fixture models, packing
// crop_features.npy into image_features.npy (LLaVA-NeXT), and box sanity (inside the image, center-crop margins uncovered).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseProcessorConfig, preprocessImage as preprocess } from '../../src/families/index.js';
import { decodeImage } from '../../src/image/decode.js';
import { packFeatures, singleViewLayout, tokenLayout, unpadExtent } from '../../src/layout/layout.js';
import type { TokenLayout } from '../../src/types.js';
import { parseNpy } from '../../src/util/npy.js';

const F = 'test/fixtures/llava';
const IMAGES = ['gradient_37x23.png', 'checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg'];
const GRID = { rows: 8, cols: 8 }; // CLIP 32 px / patch 4
const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;

async function layoutFor(
  model: string,
  file: string,
  opts = {},
): Promise<{ layout: TokenLayout; dir: string }> {
  const spec = parseProcessorConfig(readJson(`${F}/${model}/preprocessor_config.json`));
  const { image } = await decodeImage(`${F}/images/${file}`);
  const res = preprocess(image, spec);
  return {
    layout: tokenLayout(res.geometry, GRID, opts),
    dir: `${F}/${model}/expected/${file.replace(/\.\w+$/, '')}`,
  };
}

function assertBoxesInside(layout: TokenLayout): void {
  for (const t of layout.tokens) {
    if (t.kind !== 'patch') {
      assert.equal(t.box, null);
      continue;
    }
    const b = t.box!;
    assert.ok(b.x >= 0 && b.y >= 0 && b.w >= 0 && b.h >= 0, `token ${t.index} box ${JSON.stringify(b)}`);
    assert.ok(b.x + b.w <= layout.imageWidth + 1e-9 && b.y + b.h <= layout.imageHeight + 1e-9);
  }
}

describe('tiny-llava layout (single view)', () => {
  for (const file of IMAGES) {
    it(`${file}: matches token_layout`, async () => {
      const { layout, dir } = await layoutFor('tiny-llava', file);
      const exp = readJson(`${dir}/expected.json`);
      const rows = exp.token_layout as Array<[string, number, number, number]>;
      assert.equal(layout.tokens.length, exp.n_image_tokens);
      rows.forEach(([kind, crop, r, c], i) => {
        const t = layout.tokens[i];
        assert.deepEqual([t.kind, t.crop, t.row, t.col, t.source, t.index], [kind, crop, r, c, r * 8 + c, i]);
      });
      assert.deepEqual(layout.views, [{ name: 'base', rows: 8, cols: 8, start: 0, count: 64 }]);
      assertBoxesInside(layout);
    });
  }

  it('center crop: patches cover only the cropped part (120x80 -> 48x32, columns 8..40 kept)', async () => {
    const { layout } = await layoutFor('tiny-llava', 'shapes_120x80.png');
    // 8 resized px = 20 original px cut from each side
    const xs = layout.tokens.map((t) => t.box!);
    assert.equal(Math.min(...xs.map((b) => b.x)), 20);
    assert.equal(Math.max(...xs.map((b) => b.x + b.w)), 100);
    assert.ok(xs.every((b) => b.x >= 20 && b.x + b.w <= 100));
    assert.deepEqual(layout.tokens[0].box, { x: 20, y: 0, w: 10, h: 10 });
    // rows cover the full height
    assert.equal(Math.max(...xs.map((b) => b.y + b.h)), 80);
  });

  it("'full' keeps the CLS token first, with the patch sources shifted by one", async () => {
    const { layout } = await layoutFor('tiny-llava', 'checker_64x64.png', { cls: true });
    assert.equal(layout.tokens.length, 65);
    assert.deepEqual(layout.tokens[0], {
      index: 0,
      kind: 'cls',
      view: 'base',
      crop: 0,
      row: -1,
      col: -1,
      source: 0,
      box: null,
    });
    assert.equal(layout.tokens[1].source, 1);
    assert.equal(layout.tokens[64].source, 64);
    assert.deepEqual(layout.tokens[64].box, { x: 56, y: 56, w: 8, h: 8 });
    assert.equal(layout.views[0].count, 65);
  });

  it('non-square patch grids are allowed', () => {
    const geometry = {
      image: { width: 100, height: 50 },
      crops: [
        {
          index: 0,
          view: 'base' as const,
          gridRow: -1,
          gridCol: -1,
          region: { top: 0, left: 0, height: 50, width: 100 },
          resize: { height: 20, width: 40 },
          centerCrop: null,
          height: 20,
          width: 40,
          toOriginal: { sx: 2.5, sy: 2.5, tx: 0, ty: 0 },
        },
      ],
      anyres: null,
    };
    const l = singleViewLayout(geometry, { rows: 2, cols: 4 });
    assert.equal(l.tokens.length, 8);
    assert.deepEqual(l.tokens[7].box, { x: 75, y: 25, w: 25, h: 25 });
  });
});

describe('tiny-llava-next layout (anyres)', () => {
  for (const file of IMAGES) {
    it(`${file}: token_layout, newline positions, packed length, and packed features`, async () => {
      const { layout, dir } = await layoutFor('tiny-llava-next', file);
      const exp = readJson(`${dir}/expected.json`);
      const anyres = exp.anyres as {
        packed_len: number;
        newline_positions: number[];
        unpad_first_kept_row_col: [number, number];
        feature_grid_after_unpad_rows_cols: [number, number];
        base_tokens: number;
      };
      const rows = exp.token_layout as Array<[string, number, number, number, number, number]>;
      assert.equal(layout.tokens.length, anyres.packed_len);
      assert.equal(rows.length, anyres.packed_len);
      const [r0, c0] = anyres.unpad_first_kept_row_col;
      rows.forEach(([kind, crop, pr, pc, gr, gc], i) => {
        const t = layout.tokens[i];
        assert.equal(t.index, i);
        if (kind === 'newline') {
          assert.deepEqual([t.kind, t.crop, t.source, t.box], ['newline', -1, -1, null]);
          return;
        }
        assert.deepEqual(
          [t.kind, t.view, t.crop, t.source],
          ['patch', kind, crop, pr * 8 + pc],
          `token ${i}`,
        );
        if (kind === 'base') assert.deepEqual([t.row, t.col], [gr, gc]);
        else assert.deepEqual([t.row, t.col], [gr - r0, gc - c0], `token ${i}`);
      });
      const newlines = layout.tokens.filter((t) => t.kind === 'newline').map((t) => t.index);
      assert.deepEqual(newlines, anyres.newline_positions);
      const [keptRows, keptCols] = anyres.feature_grid_after_unpad_rows_cols;
      assert.deepEqual(layout.views, [
        { name: 'base', rows: 8, cols: 8, start: 0, count: anyres.base_tokens },
        {
          name: 'grid',
          rows: keptRows,
          cols: keptCols,
          start: anyres.base_tokens,
          count: keptRows * (keptCols + 1),
        },
      ]);
      assertBoxesInside(layout);

      // Packing: gather crop_features by the layout; the newline vector is read from the first newline row
      // (every newline row must hold the same vector).
      const cf = npy(`${dir}/crop_features.npy`);
      const ref = npy(`${dir}/image_features.npy`).data as Float32Array;
      const hidden = cf.shape[2];
      const nl = ref.slice(newlines[0] * hidden, (newlines[0] + 1) * hidden);
      const packed = packFeatures(cf.data as Float32Array, cf.shape, layout, { newline: nl });
      assert.equal(packed.length, ref.length);
      let maxdiff = 0;
      for (let i = 0; i < ref.length; i++) maxdiff = Math.max(maxdiff, Math.abs(packed[i] - ref[i]));
      assert.ok(maxdiff <= 1e-6, `packed vs image_features maxdiff ${maxdiff}`);
    });
  }

  it('base view covers the whole (squashed) image; grid boxes tile the image without the padding', async () => {
    const { layout } = await layoutFor('tiny-llava-next', 'shapes_120x80.png');
    const base = layout.tokens.filter((t) => t.view === 'base');
    assert.deepEqual(base[0].box, { x: 0, y: 0, w: 15, h: 10 });
    assert.deepEqual(base[63].box, { x: 105, y: 70, w: 15, h: 10 });
    const grid = layout.tokens.filter((t) => t.view === 'grid' && t.kind === 'patch');
    // resized to 43x64 for 80x120 (y scale 80/43, ceil made it a little taller), padded 10 rows on top: the first kept
    // feature row (global row 3) starts at padded y = 12, i.e. resized y = 2, original y = 2 * 80/43
    assert.ok(Math.abs(grid[0].box!.y - (2 * 80) / 43) < 1e-12);
    assert.equal(grid[0].box!.x, 0);
    assert.equal(Math.max(...grid.map((t) => t.box!.x + t.box!.w)), 120);
    // unpad keeps rows 3..12 of the 16-row map; the content spans padded rows 10..52, so the last kept row ends a little
    // above the bottom (padded y 51.4 through the 31->32 row stretch of the short bottom crops) = original y 76.98
    const bottom = Math.max(...grid.map((t) => t.box!.y + t.box!.h));
    assert.ok(Math.abs(bottom - ((51.375 - 10) * 80) / 43) < 1e-9, `bottom ${bottom}`);
  });

  it('packFeatures refuses a missing newline vector and out-of-range sources', async () => {
    const { layout } = await layoutFor('tiny-llava-next', 'gradient_37x23.png');
    const cf = new Float32Array(3 * 64 * 4);
    assert.throws(() => packFeatures(cf, [3, 64, 4], layout, null), { name: 'MissingTensorError' });
    assert.throws(() => packFeatures(cf, [2, 96, 4], layout, { newline: new Float32Array(4) }), RangeError);
    assert.throws(() => packFeatures(cf, [3, 64, 4], layout, { newline: new Float32Array(5) }), {
      name: 'MissingTensorError',
    });
  });

  it("anyres refuses the CLS-keeping 'full' strategy", async () => {
    await assert.rejects(layoutFor('tiny-llava-next', 'gradient_37x23.png', { cls: true }), {
      name: 'UnsupportedModelError',
    });
  });
});

describe('unpadExtent', () => {
  it('mirrors unpad_image: int() truncation, one extra row survives when the difference is odd', () => {
    // 120x80 on a 16x16 map: new_h = int(80 * 16/120) = 10, pad (16-10)//2 = 3 -> rows [3, 13)
    assert.deepEqual(unpadExtent({ height: 80, width: 120 }, { height: 16, width: 16 }), {
      top: 3,
      bottom: 13,
      left: 0,
      right: 16,
    });
    // 37x23 on 8x16 (aspect 1.61 < 2): new_w = int(37 * 8/23) = 12, pad 2 -> columns [2, 14)
    assert.deepEqual(unpadExtent({ height: 23, width: 37 }, { height: 8, width: 16 }), {
      top: 0,
      bottom: 8,
      left: 2,
      right: 14,
    });
    // odd difference: 100x70 on 16x16: new_h = int(70 * 0.16) = 11, pad (16-11)//2 = 2 -> 12 rows survive
    assert.deepEqual(unpadExtent({ height: 70, width: 100 }, { height: 16, width: 16 }), {
      top: 2,
      bottom: 14,
      left: 0,
      right: 16,
    });
    // 24x25 (w x h) on 24x24: new_w = int(24 * 24/25) = 23, pad (24-23)//2 = 0 -> all 24 cols survive
    assert.deepEqual(unpadExtent({ height: 25, width: 24 }, { height: 24, width: 24 }), {
      top: 0,
      bottom: 24,
      left: 0,
      right: 24,
    });
  });

  it("'v4.45' float32 arithmetic vs 'round7' can differ on exact products", () => {
    // 296x37 (aspect exactly 8) on a 48x24 map: 4.45 computes 37 * float32(24/296) = 2.9999998 -> int 2, so only 2 rows
    // survive; later versions round to 7 decimals first -> 3 -> 4 rows (pad 22).
    const img = { height: 37, width: 296 };
    const cur = { height: 48, width: 24 };
    assert.deepEqual(unpadExtent(img, cur, 'v4.45'), { top: 23, bottom: 25, left: 0, right: 24 });
    assert.deepEqual(unpadExtent(img, cur, 'round7'), { top: 22, bottom: 26, left: 0, right: 24 });
    // both rules agree on the fixture sizes.
    for (const [h, w] of [
      [23, 37],
      [64, 64],
      [80, 120],
      [90, 45],
    ]) {
      const cur = { height: 16, width: 16 };
      assert.deepEqual(
        unpadExtent({ height: h, width: w }, cur, 'v4.45'),
        unpadExtent({ height: h, width: w }, cur, 'round7'),
      );
    }
  });
});
