/**
 * One conformance suite that every registered family runs against its golden fixtures (as hono runs one router
 * suite over every router): the model is loaded through the public loader from the checkpoint directory, and
 * each stage is compared with what transformers 4.45.1 produced (or 5.12.1 for test/fixtures/modern). The default
 * image backend is transformers 5's torchvision one; the cases with Pillow-made goldens ask for 'pil'.
 * Tolerances (fixtures READMEs): pixel_values 1e-6 (bit-exact where the processor is), features 1e-4,
 * scores 1e-4, OMP coefficients 1e-3; ids equal except rank swaps on the listed near-tie rows.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { FAMILIES } from '../src/families/index.js';
import { loadModel, type Model } from '../src/model.js';
import type { LoadOptions } from '../src/api.js';
import { LENS_METHODS, type LensMethod, type TokenLayout } from '../src/types.js';
import {
  assertClose,
  assertCloseScaled,
  assertTopK,
  exists,
  npyF32,
  npyInt,
  readJson,
} from './helpers/golden.js';

interface Case {
  dir: string;
  modelType: string;
  imagesDir: string;
  /** pixel_values tolerance (0 = bit-exact). */
  pixelTol: number;
  /** The fixture the pixels are compared with (default pixel_values.npy; the 5.x fixtures' Pillow backend: _pil). */
  pixelsFile?: string;
  featureTol: number;
  /** Named skips: fixture array -> reason. */
  skip?: Record<string, string>;
  /** The fixture array the packed features are compared with (default image_features: the inputs_embeds rows). */
  featuresFile?: string;
  /** Fixture method name -> lens method (default METHODS). */
  methods?: Array<[string, LensMethod]>;
  /** Absolute score tolerance (default 1e-4). */
  scoreTol?: number;
  /** Load options (e.g. the image backend). */
  loadOptions?: LoadOptions;
  /** Tolerances are |d| / max(1, |want|) (fixtures-modern: relative past magnitude 1) instead of absolute. */
  scaledTol?: boolean;
  /** Checks the layout against expected.json token_layout (rows, columns, kinds, boxes). */
  checkLayout?: (
    layout: TokenLayout,
    meta: ExpectedJson,
    image: { width: number; height: number },
    exp: string,
  ) => void;
}

/** Gemma 3 / 4 fixture measures -> lens methods: the embedding measures against embed_tokens * sqrt(H). */
const GEMMA_METHODS: Array<[string, LensMethod]> = [
  ['cosine', 'cosine'],
  ['dot_scaled', 'dot'],
  ['l2_scaled', 'l2'],
  ['lm_head', 'logit-raw'],
  ['lm_head_normed', 'logit'],
];

export const CASES: Case[] = [
  {
    dir: 'test/fixtures/llava/tiny-llava',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'llava',
    imagesDir: 'test/fixtures/llava/images',
    pixelTol: 0,
    featureTol: 1e-4,
  },
  {
    dir: 'test/fixtures/llava/tiny-llava-next',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'llava_next',
    imagesDir: 'test/fixtures/llava/images',
    pixelTol: 0,
    featureTol: 1e-4,
  },
  {
    // LLaVA with a SigLIP tower (llava-interleave): no CLS, so 'full' gives 64 tokens (4.45's LlavaProcessor
    // would insert 65 placeholders; llavaProcessorImageTokens in src/families/llava/index.ts mirrors that count).
    dir: 'test/fixtures/arch/tiny-llava-siglip',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'llava',
    imagesDir: 'test/fixtures/arch/images',
    pixelTol: 0,
    featureTol: 1e-4,
    checkLayout: squashedPatchGrid,
  },
  {
    // Features are Gemma's layer-0 input (image_features * sqrt(hidden)); the embedding measures use
    // embed_tokens * sqrt(hidden) and the logit lens the unscaled tied lm_head: the `_scaled` fixtures
    // (docs/families.md). The unscaled image_features stage is checked in src/families/paligemma/index.test.ts.
    dir: 'test/fixtures/arch/tiny-paligemma',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'paligemma',
    imagesDir: 'test/fixtures/arch/images',
    pixelTol: 0,
    featureTol: 1e-4,
    featuresFile: 'image_features_scaled.npy',
    methods: [
      ['cosine', 'cosine'],
      ['dot_scaled', 'dot'],
      ['l2_scaled', 'l2'],
      ['lm_head_scaled', 'logit-raw'],
      ['lm_head_normed_scaled', 'logit'],
    ],
    checkLayout: squashedPatchGrid,
  },
  {
    // Qwen2-VL: smart_resize (banker's rounding, min/max_pixels), 2-D pixel_values, merged 2x2 tokens.
    dir: 'test/fixtures/arch/tiny-qwen2-vl',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'qwen2_vl',
    imagesDir: 'test/fixtures/arch/images',
    pixelTol: 0,
    featureTol: 1e-4,
    checkLayout: mergedBlockGrid,
  },
  {
    // LLaVA-OneVision: SigLIP hidden_states[-1], anyres over square crops, anyres_max_9 bilinear down-sampling (none
    // of the shipped images is interpolated; the packer's bilinear step is tested in src/families/llava_onevision/index.test.ts).
    dir: 'test/fixtures/arch/tiny-llava-onevision',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'llava_onevision',
    imagesDir: 'test/fixtures/arch/images',
    pixelTol: 0,
    featureTol: 1e-4,
    checkLayout: onevisionGrid,
  },
  {
    // Qwen2.5-VL (transformers 5.12.1 fixtures): every stage is computed from the Pillow backend's pixels; window
    // attention, the window permutation and its reversal are checked stage by stage in
    // src/families/qwen2_5_vl/qwen2_5_vl.test.ts.
    dir: 'test/fixtures/modern/tiny-qwen2_5-vl',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'qwen2_5_vl',
    imagesDir: 'test/fixtures/modern/images',
    pixelTol: 0,
    pixelsFile: 'pixel_values_pil.npy',
    featureTol: 1e-4,
    checkLayout: qwenTokenLayout,
  },
  {
    // Qwen3-VL (transformers 5.12.1 fixtures): the main merger's output is what the lens shows; the position-table
    // interpolation and both DeepStack features are checked stage by stage in src/families/qwen3_vl/qwen3_vl.test.ts.
    // Tied: logit-raw is dot.
    dir: 'test/fixtures/modern/tiny-qwen3-vl',
    loadOptions: { imageBackend: 'pil' }, // the goldens are Pillow pixels (4.45.1 / the 5.x *_pil arrays)
    modelType: 'qwen3_vl',
    imagesDir: 'test/fixtures/modern/images',
    pixelTol: 0,
    pixelsFile: 'pixel_values_pil.npy',
    featureTol: 1e-4,
    checkLayout: qwenTokenLayout,
  },
  // Idefics3 / SmolVLM against transformers 5.12.1 (fixtures-modern): the default (torchvision) backend, whose
  // uint8 LANCZOS kernel and fused normalisation src/image/resize-torch.ts mirrors (bit-exact on these images), with
  // every lens measure; and the PIL backend, bit-exact pixels and the features computed from them.
  ...(['tiny-idefics3', 'tiny-smolvlm'] as const).flatMap((m): Case[] => [
    {
      dir: `test/fixtures/modern/${m}`,
      modelType: m === 'tiny-idefics3' ? 'idefics3' : 'smolvlm',
      imagesDir: 'test/fixtures/arch/images',
      pixelTol: 0,
      featureTol: 1e-4,
      scaledTol: true,
      checkLayout: tiledLayout,
    },
    {
      dir: `test/fixtures/modern/${m}`,
      modelType: m === 'tiny-idefics3' ? 'idefics3' : 'smolvlm',
      imagesDir: 'test/fixtures/arch/images',
      loadOptions: { imageBackend: 'pil' },
      pixelsFile: 'pixel_values_pil.npy',
      pixelTol: 0,
      featuresFile: 'image_features_pil.npy',
      featureTol: 1e-4,
      scaledTol: true,
      methods: [], // the fixtures' top-k lists come from the default backend's features
      checkLayout: tiledLayout,
    },
  ]),
  // Gemma 3 / Gemma 4 against transformers 5.12.1 (fixtures-modern README-gemma.md): the default (torchvision)
  // backend with every lens measure in the space the features live in (embed_tokens * sqrt(H): dot_scaled, l2_scaled;
  // the logit lens over the raw tied matrix), and the PIL backend, bit-exact pixels and the features from them.
  // The pan-and-scan runs and the stage-by-stage checks are in src/families/gemma3/gemma3.test.ts.
  ...(['gemma3', 'gemma4'] as const).flatMap((m): Case[] => [
    {
      dir: `test/fixtures/modern/tiny-${m}`,
      modelType: m,
      imagesDir: 'test/fixtures/modern/images',
      pixelTol: 0,
      featureTol: 1e-4,
      scaledTol: true,
      methods: GEMMA_METHODS,
      checkLayout: gemmaLayout,
    },
    {
      dir: `test/fixtures/modern/tiny-${m}`,
      modelType: m,
      imagesDir: 'test/fixtures/modern/images',
      loadOptions: { imageBackend: 'pil' },
      pixelsFile: 'pixel_values_pil.npy',
      pixelTol: 0,
      featuresFile: 'image_features_pil.npy',
      featureTol: 1e-4,
      scaledTol: true,
      methods: [], // the fixtures' top-k lists come from the default backend's features
      checkLayout: gemmaLayout,
    },
  ]),
  // InternVL against transformers 5.12.1 (fixtures-modern): GotOcr2ImageProcessor with crop_to_patches forced, the
  // default (torchvision) backend's uint8 BICUBIC kernel and fused normalisation (bit-exact on these images) with
  // every lens measure, and the PIL backend (bit-exact pixels, image_features_pil). Vision stages are checked one by
  // one in src/families/internvl/internvl.test.ts. Tied: logit-raw is dot.
  ...[{}, { pil: true }].map((o): Case => ({
    dir: 'test/fixtures/modern/tiny-internvl',
    modelType: 'internvl',
    imagesDir: 'test/fixtures/arch/images',
    pixelTol: 0,
    featureTol: 1e-4,
    scaledTol: true,
    checkLayout: tiledLayout,
    ...('pil' in o
      ? {
          loadOptions: { imageBackend: 'pil' as const },
          pixelsFile: 'pixel_values_pil.npy',
          featuresFile: 'image_features_pil.npy',
          methods: [], // the fixtures' top-k lists come from the default backend's features
        }
      : {}),
  })),
];

/** Fixture method name -> lens method. */
const METHODS: Array<[string, LensMethod]> = [
  ['cosine', 'cosine'],
  ['dot', 'dot'],
  ['l2', 'l2'],
  ['lm_head', 'logit-raw'],
  ['lm_head_normed', 'logit'],
];
/** Lens methods whose goldens are OMP's sparse codes (omp_sparse_*.npy), checked below. */
const OMP_GOLDEN: readonly LensMethod[] = ['omp'];
/** Lens methods without fixture goldens, and where they are checked instead. */
const NO_GOLDEN: Partial<Record<LensMethod, string>> = {
  ompp: 'the fixtures hold no ompp codes; src/lens/lens.test.ts checks it against the original pos_only variant',
};

type NearTies = Record<string, { 'rows_with_gap_below_1e-5'?: number[] }>;

interface ExpectedJson {
  n_image_tokens: number;
  prompt?: { non_image_tokens: Array<[number, number, string, string, string]> };
  anyres?: { newline_positions: number[] } | null;
  /** 4.45 fixtures: topk.methods.<name>; the 5.x fixtures: topk.<name>. */
  topk?: unknown;
  token_layout_columns?: string[];
  token_layout?: Array<Array<string | number>>;
  geometry?: {
    resized_hw?: [number, number];
    resized_for_patching_hw?: [number, number];
    pad_top_bottom_left_right?: [number, number, number, number];
    feature_grid_before_unpad_rows_cols?: [number, number];
    padded_size_hw?: [number, number];
    interpolated?: boolean;
    feature_grid_after_unpad_rows_cols?: [number, number];
    feature_grid_final_rows_cols?: [number, number];
    unpad_kept_rows?: [number, number];
    unpad_kept_cols?: [number, number];
    newline_positions?: number[];
  };
}

/**
 * A single view resized straight to a square (SiglipImageProcessor): token_layout rows are
 * ["patch", 0, row, col] in raster order, and patch (r, c) of an R x C grid covers
 * [c W/C, (c+1) W/C) x [r H/R, (r+1) H/R) of the original W x H image.
 */
function squashedPatchGrid(
  layout: TokenLayout,
  meta: ExpectedJson,
  image: { width: number; height: number },
): void {
  assert.deepEqual(meta.token_layout_columns, ['kind', 'crop', 'patch_row', 'patch_col']);
  const rows = meta.token_layout!;
  assert.equal(layout.tokens.length, rows.length, 'token_layout length');
  const R = 1 + Math.max(...rows.map((r) => Number(r[2])));
  const C = 1 + Math.max(...rows.map((r) => Number(r[3])));
  rows.forEach(([kind, crop, r, c], i) => {
    const t = layout.tokens[i];
    assert.deepEqual([t.kind, t.crop, t.row, t.col], [kind, crop, r, c], `token ${i}`);
    const want = {
      x: (Number(c) * image.width) / C,
      y: (Number(r) * image.height) / R,
      w: image.width / C,
      h: image.height / R,
    };
    assert.ok(t.box, `token ${i} has a box`);
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      assert.ok(Math.abs(t.box[k] - want[k]) < 1e-9, `token ${i} box.${k} ${t.box[k]} vs ${want[k]}`);
    }
  });
  assert.deepEqual(
    layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
    [['base', R, C, 0, R * C]],
  );
}

/**
 * Qwen2-VL: token_layout rows are ["merged", t, merged_row, merged_col, first_patch_row, y0, x0, y1, x1] with the box
 * in smart-resized pixels; each token must sit on its 2x2 patch block, mapped back onto the original image.
 */
function mergedBlockGrid(
  layout: TokenLayout,
  meta: ExpectedJson,
  image: { width: number; height: number },
): void {
  assert.deepEqual(meta.token_layout_columns, [
    'kind',
    't',
    'merged_row',
    'merged_col',
    'first_patch_row_in_pixel_values',
    'y0',
    'x0',
    'y1',
    'x1',
  ]);
  const rows = meta.token_layout!;
  const [rh, rw] = meta.geometry!.resized_hw!;
  const sx = image.width / rw;
  const sy = image.height / rh;
  assert.equal(layout.tokens.length, rows.length, 'token_layout length');
  rows.forEach(([kind, t, r, c, first, y0, x0, y1, x1], i) => {
    const tok = layout.tokens[i];
    assert.deepEqual([kind, t], ['merged', 0], `token ${i}`);
    assert.deepEqual([tok.kind, tok.view, tok.row, tok.col], ['patch', 'base', r, c], `token ${i}`);
    assert.equal(tok.source * 4, first, `token ${i}: first patch row`);
    const want = {
      x: Number(x0) * sx,
      y: Number(y0) * sy,
      w: (Number(x1) - Number(x0)) * sx,
      h: (Number(y1) - Number(y0)) * sy,
    };
    assert.ok(tok.box, `token ${i} has a box`);
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      assert.ok(Math.abs(tok.box[k] - want[k]) < 1e-9, `token ${i} box.${k} ${tok.box[k]} vs ${want[k]}`);
    }
  });
  const R = 1 + Math.max(...rows.map((r) => Number(r[2])));
  const C = 1 + Math.max(...rows.map((r) => Number(r[3])));
  assert.deepEqual(
    layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
    [['base', R, C, 0, R * C]],
  );
}

/**
 * The 5.x Qwen fixtures (Qwen2.5-VL, Qwen3-VL): token_layout.npy rows are [prompt_pos, t, merged_row, merged_col, first_patch_row, y0, x0, y1,
 * x1, ...] (box in smart-resized pixels, 2p x 2p per token), raster order; each token must sit on its 2x2 patch block
 * mapped back onto the original image, and the image tokens follow each other from first_image_pos.
 */
function qwenTokenLayout(
  layout: TokenLayout,
  meta: ExpectedJson,
  image: { width: number; height: number },
  exp: string,
): void {
  const tl = meta.token_layout as unknown as { columns: string[]; first_image_pos: number };
  assert.deepEqual(tl.columns.slice(0, 9), [
    'prompt_pos',
    't',
    'merged_row',
    'merged_col',
    'first_patch_row_in_pixel_values',
    'y0',
    'x0',
    'y1',
    'x1',
  ]);
  const a = npyInt(`${exp}/token_layout.npy`);
  const cols = a.shape[1];
  const [rh, rw] = meta.geometry!.resized_hw!;
  const sx = image.width / rw;
  const sy = image.height / rh;
  assert.equal(layout.tokens.length, a.shape[0], 'token_layout length');
  for (let i = 0; i < a.shape[0]; i++) {
    const [pos, t, r, c, first, y0, x0, y1, x1] = a.data.subarray(i * cols, i * cols + 9);
    const tok = layout.tokens[i];
    assert.deepEqual([pos - tl.first_image_pos, t], [i, 0], `token ${i} prompt position`);
    assert.deepEqual([tok.kind, tok.view, tok.row, tok.col], ['patch', 'base', r, c], `token ${i}`);
    assert.equal(tok.source * 4, first, `token ${i}: first patch row`);
    const want = { x: x0 * sx, y: y0 * sy, w: (x1 - x0) * sx, h: (y1 - y0) * sy };
    assert.ok(tok.box, `token ${i} has a box`);
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      assert.ok(Math.abs(tok.box[k] - want[k]) < 1e-9, `token ${i} box.${k} ${tok.box[k]} vs ${want[k]}`);
    }
  }
  const R = 1 + Math.max(...layout.tokens.map((t) => t.row));
  assert.deepEqual(
    layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
    [['base', R, a.shape[0] / R, 0, a.shape[0]]],
  );
}

/**
 * LLaVA-OneVision: token_layout rows are [kind, crop, patch_row, patch_col, global_row, global_col, out_row, out_col]
 * (kind base | grid | grid_interp | newline). Grid boxes are the patch (or, interpolated, the output cell around its
 * fractional sample centre) in the padded image, mapped back through the padding and the aspect-preserving resize.
 */
function onevisionGrid(
  layout: TokenLayout,
  meta: ExpectedJson,
  image: { width: number; height: number },
): void {
  assert.deepEqual(meta.token_layout_columns, [
    'kind',
    'crop',
    'patch_row',
    'patch_col',
    'global_row',
    'global_col',
    'out_row',
    'out_col',
  ]);
  const g = meta.geometry!;
  const rows = meta.token_layout!;
  assert.equal(layout.tokens.length, rows.length, 'token_layout length');
  const [ph, pw] = g.padded_size_hw!;
  const [mh, mw] = g.feature_grid_before_unpad_rows_cols!;
  const [rh, rw] = g.resized_for_patching_hw!;
  const [top, , left] = g.pad_top_bottom_left_right!;
  const [fr, fc] = g.feature_grid_final_rows_cols!;
  const [ur, uc] = g.feature_grid_after_unpad_rows_cols!;
  const per = { y: ph / mh, x: pw / mw }; // padded pixels per map patch
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  // A rectangle of the pre-unpad map (patch units) -> original-image box.
  const box = (y0: number, x0: number, y1: number, x1: number) => {
    const X = (u: number) => clip(((u * per.x - left) * image.width) / rw, image.width);
    const Y = (v: number) => clip(((v * per.y - top) * image.height) / rh, image.height);
    return { x: X(x0), y: Y(y0), w: X(x1) - X(x0), h: Y(y1) - Y(y0) };
  };
  const cell = { y: ur / fr, x: uc / fc }; // map patches per output cell (1 unless interpolated)
  rows.forEach(([kind, crop, pr, pc, gr, gc, or, oc], i) => {
    const t = layout.tokens[i];
    if (kind === 'newline') {
      assert.deepEqual([t.kind, t.view, t.row, t.col], ['newline', 'grid', or, oc], `token ${i}`);
      return;
    }
    if (kind === 'base') {
      assert.deepEqual([t.kind, t.view, t.crop, t.row, t.col], ['patch', 'base', 0, pr, pc], `token ${i}`);
      return;
    }
    assert.deepEqual([t.kind, t.view, t.row, t.col], ['patch', 'grid', or, oc], `token ${i}`);
    let want;
    if (kind === 'grid') {
      assert.deepEqual([t.crop, t.source], [crop, Number(pr) * 8 + Number(pc)], `token ${i} source`);
      want = box(Number(gr), Number(gc), Number(gr) + 1, Number(gc) + 1);
    } else {
      assert.equal(kind, 'grid_interp', `token ${i} kind`);
      // (global + 0.5) is the sample centre in edge coordinates; the cell spans one output step around it.
      const cy = Number(gr) + 0.5;
      const cx = Number(gc) + 0.5;
      want = box(cy - cell.y / 2, cx - cell.x / 2, cy + cell.y / 2, cx + cell.x / 2);
    }
    assert.ok(t.box, `token ${i} has a box`);
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      // grid_interp centres are float32 in the fixture (torch's scale = in/out in float32): 1e-4 px.
      const tol = kind === 'grid' ? 1e-6 : 1e-4;
      assert.ok(Math.abs(t.box[k] - want[k]) < tol, `token ${i} box.${k} ${t.box[k]} vs ${want[k]}`);
    }
  });
  const nl = layout.tokens.filter((t) => t.kind === 'newline').map((t) => t.index);
  assert.deepEqual(nl, g.newline_positions, 'newline positions');
  assert.deepEqual(
    layout.views.map((v) => [v.name, v.rows, v.cols, v.start, v.count]),
    [
      ['base', 8, 8, 0, 64],
      ['grid', fr, fc, 64, fr * (fc + 1)],
    ],
  );
}

/**
 * Idefics3 / SmolVLM / InternVL (fixtures-modern): token_layout rows are [position, feature_row, tile, tile_kind, grid_row,
 * grid_col, token_row, token_col, first_patch_row, first_patch_col, tile_y0, tile_x0, tile_y1, tile_x1, orig_x0,
 * orig_y0, orig_x1, orig_y1]; every token's tile, place and ORIGINAL-image box must match, and the layout's specials
 * must be exactly the prompt's non-image tokens of the image run (same text, same positions).
 */
function tiledLayout(layout: TokenLayout, meta: ExpectedJson): void {
  const cols = meta.token_layout_columns!;
  assert.equal(cols[0], 'position');
  assert.deepEqual(cols.slice(14), ['orig_x0', 'orig_y0', 'orig_x1', 'orig_y1']);
  const rows = meta.token_layout!;
  assert.equal(layout.tokens.length, rows.length, 'token_layout length');
  const specials = layout.specials ?? [];
  const nonImage = meta.prompt!.non_image_tokens;
  // The image run starts at the layout's first special (<fake_token_around_image>; InternVL: <img>).
  const start = nonImage.find((t) => t[3] === specials[0].text)![0];
  const side = 1 + Math.max(...rows.map((r) => Number(r[7]))); // tokens per tile side
  rows.forEach((row, i) => {
    const [pos, feat, tile, kind, gr, gc, tr, tc, , , , , , , x0, y0, x1, y1] = row;
    const t = layout.tokens[i];
    assert.equal(t.index, feat, `token ${i} feature row`);
    // Grid tokens: row/col in the canvas-wide token grid, so tile (row // side, col // side), place (row % side, ...).
    const grid = t.view === 'grid';
    assert.deepEqual(
      [
        t.crop,
        grid ? 'tile' : kind === 'thumbnail' ? 'thumbnail' : 'global',
        grid ? Math.floor(t.row / side) : -1,
        grid ? Math.floor(t.col / side) : -1,
        t.row % side,
        t.col % side,
      ],
      [tile, kind, gr, gc, tr, tc],
      `token ${i} tile`,
    );
    assert.equal(t.source, Number(tr) * side + Number(tc), `token ${i} row of its tile's features`);
    assert.equal(t.view, kind === 'tile' ? 'grid' : 'base', `token ${i} view`);
    const before = specials.filter((sp) => sp.before <= i).length;
    assert.equal(start + i + before, pos, `token ${i} position in the prompt`);
    // The fixture stores box corners rounded to 4 decimals: corners within 5e-5 px (1e-4 for the width/height).
    assert.ok(t.box, `token ${i} has a box`);
    const got = [t.box.x, t.box.y, t.box.x + t.box.w, t.box.y + t.box.h];
    [x0, y0, x1, y1].forEach((v, j) => {
      assert.ok(Math.abs(got[j] - Number(v)) <= 5.1e-5, `token ${i} box corner ${j}: ${got[j]} vs ${v}`);
    });
  });
  const end = start + rows.length + specials.length; // one past the run
  const inRun = nonImage.filter((t) => t[0] >= start && t[0] < end);
  assert.deepEqual(
    specials.map((sp) => [start + sp.position, sp.text]),
    inRun.map((t) => [t[0], t[3]]),
    'special tokens of the image run (position, decoded text)',
  );
}

/**
 * Gemma 3 / Gemma 4 (fixtures-modern): token_layout rows are [position, (crop,) row, col, y0, x0, y1, x1, orig_y0,
 * orig_x0, orig_y1, orig_x1] (Gemma 3 has the crop column; boxes in view / resized pixels, then on the ORIGINAL
 * image); every token's place, box and prompt position must match, and the specials must be exactly the boi / eoi
 * tokens at special_tokens.boi_positions / eoi_positions.
 */
function gemmaLayout(layout: TokenLayout, meta: ExpectedJson): void {
  const cols = meta.token_layout_columns!;
  const rows = meta.token_layout!;
  const st = (meta as unknown as { special_tokens: { boi_positions: number[]; eoi_positions: number[] } })
    .special_tokens;
  const hasCrop = cols[1] === 'crop';
  assert.deepEqual(cols.slice(-4), ['orig_y0', 'orig_x0', 'orig_y1', 'orig_x1']);
  assert.equal(layout.tokens.length, rows.length, 'token_layout length');
  const specials = layout.specials ?? [];
  const start = st.boi_positions[0];
  rows.forEach((row, i) => {
    const t = layout.tokens[i];
    const pos = Number(row[0]);
    const [r, c] = hasCrop ? [row[2], row[3]] : [row[1], row[2]];
    if (hasCrop) assert.equal(t.crop, row[1], `token ${i} crop`);
    assert.deepEqual([t.kind, t.view, t.row, t.col], ['patch', 'base', r, c], `token ${i}`);
    const before = specials.filter((sp) => sp.before <= i).length;
    assert.equal(start + i + before, pos, `token ${i} position in the prompt`);
    assert.ok(t.box, `token ${i} has a box`);
    const [y0, x0, y1, x1] = row.slice(-4).map(Number);
    const got = [t.box.y, t.box.x, t.box.y + t.box.h, t.box.x + t.box.w];
    [y0, x0, y1, x1].forEach((v, j) => {
      assert.ok(Math.abs(got[j] - v) <= 1e-4, `token ${i} box corner ${j}: ${got[j]} vs ${v}`);
    });
  });
  // specials alternate boi, eoi (one pair per image block), at the prompt's boi / eoi positions
  assert.equal(specials.length, st.boi_positions.length + st.eoi_positions.length, 'specials count');
  specials.forEach((sp, j) => {
    assert.equal(sp.text, specials[j % 2].text, `special ${j} text`);
    const p = (j % 2 === 0 ? st.boi_positions : st.eoi_positions)[j >> 1];
    assert.equal(start + sp.position, p, `special ${j} (${sp.text}) position`);
  });
  assert.notEqual(specials[0].text, specials[1].text, 'boi and eoi differ');
}

const models: Model[] = [];
after(async () => {
  for (const m of models) await m.close();
});

test('every lens method in the table has a conformance golden or a stated reason', () => {
  const covered = new Set<string>([
    ...CASES.flatMap((c) => (c.methods ?? METHODS).map(([, m]) => m)),
    ...OMP_GOLDEN,
    ...Object.keys(NO_GOLDEN),
  ]);
  for (const m of LENS_METHODS) assert.ok(covered.has(m), `lens method ${m} has no conformance golden`);
});

test('every registered family has a conformance case', () => {
  const covered = new Set(CASES.map((c) => c.modelType));
  for (const t of FAMILIES.keys()) assert.ok(covered.has(t), `no conformance fixture for model_type ${t}`);
});

for (const c of CASES) {
  const backend = c.loadOptions?.imageBackend ? ` (${c.loadOptions.imageBackend} backend)` : '';
  describe(`${c.modelType}: ${c.dir}${backend}`, () => {
    let model: Model;
    const images = readdirSync(`${c.dir}/expected`, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);

    test('loads', async () => {
      model = await loadModel(c.dir, c.loadOptions);
      models.push(model);
      assert.equal(model.info.modelType, c.modelType);
    });

    for (const img of images) {
      test(img, async (tc) => {
        const exp = `${c.dir}/expected/${img}`;
        const meta = readJson<ExpectedJson>(`${exp}/expected.json`);
        const file = readdirSync(c.imagesDir).find((f) => f.startsWith(img) && !f.endsWith('.npy'))!;
        const f = await model.encode(`${c.imagesDir}/${file}`);
        const px = npyF32(`${exp}/${c.pixelsFile ?? 'pixel_values.npy'}`);
        if (c.skip?.pixel_values === undefined)
          assertClose(f.pixelValues, px.data, c.pixelTol, `${img} pixel_values`);
        const close = c.scaledTol ? assertCloseScaled : assertClose;
        if (exists(`${exp}/crop_features.npy`)) {
          assertClose(
            f.cropFeatures,
            npyF32(`${exp}/crop_features.npy`).data,
            c.featureTol,
            `${img} crop_features`,
          );
        }
        const want = npyF32(`${exp}/${c.featuresFile ?? 'image_features.npy'}`);
        assert.equal(f.layout.tokens.length, meta.n_image_tokens, `${img}: token count`);
        const fd = close(f.features, want.data, c.featureTol, `${img} image_features`);
        tc.diagnostic(
          `features vs ${c.featuresFile ?? 'image_features.npy'}: maxdiff ${fd.toExponential(2)}`,
        );
        c.checkLayout?.(f.layout, meta, f.image, exp);
        if (meta.anyres) {
          const nl = f.layout.tokens.filter((t) => t.kind === 'newline').map((t) => t.index);
          assert.deepEqual(nl, meta.anyres.newline_positions, `${img}: newline positions`);
        }
        for (const t of f.layout.tokens) {
          if (t.box) {
            assert.ok(
              t.box.x >= 0 &&
                t.box.y >= 0 &&
                t.box.x + t.box.w <= f.image.width + 1e-9 &&
                t.box.y + t.box.h <= f.image.height + 1e-9,
              `${img}: token ${t.index} box inside the image`,
            );
          }
        }
        // The lens over the checkpoint's own matrices.
        const ties =
          (meta.topk as { methods?: NearTies } | undefined)?.methods ?? (meta.topk as NearTies) ?? {};
        const n = f.layout.tokens.length;
        for (const [fx, method] of c.methods ?? METHODS) {
          if (!exists(`${exp}/topk_${fx}_ids.npy`)) continue;
          const ids = npyInt(`${exp}/topk_${fx}_ids.npy`);
          const scores = npyF32(`${exp}/topk_${fx}_scores.npy`);
          const top = await model.lensEngine.run(f.features, n, method, 10);
          const r = assertTopK(
            top,
            ids.data,
            scores.data,
            ids.shape[1],
            n,
            new Set(ties[fx]?.['rows_with_gap_below_1e-5'] ?? []),
            c.scoreTol ?? 1e-4,
            `${img} ${method}`,
            c.scaledTol,
          );
          tc.diagnostic(
            `${fx} as ${method}: score maxdiff ${r.maxScoreDiff.toExponential(2)}, near-tie rows swapped ${r.swappedRows}`,
          );
        }
        if (exists(`${exp}/omp_sparse_ids.npy`)) {
          const ids = npyInt(`${exp}/omp_sparse_ids.npy`);
          const coefs = npyF32(`${exp}/omp_sparse_coefs.npy`);
          const top = await model.lensEngine.run(f.features, n, OMP_GOLDEN[0], 10);
          for (let t = 0; t < n; t++) {
            for (let j = 0; j < 10; j++) {
              const w = ids.data[t * 10 + j];
              if (w < 0) break;
              assert.equal(top.ids[t * 10 + j], w, `${img} omp token ${t} atom ${j}`);
              assert.ok(
                Math.abs(top.scores[t * 10 + j] - coefs.data[t * 10 + j]) <= 1e-3,
                `${img} omp token ${t} coef ${j}`,
              );
            }
          }
        }
        assert.ok(fd <= c.featureTol);
      });
    }
  });
}
