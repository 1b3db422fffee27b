// The deep lens against the golden transformers dumps: test/fixtures/deep (4.45.1, --reference v4) and
// test/fixtures/deep-v5 (5.12.1, --reference v5). The image rows of hidden_states[0] are fed as the features, so
// the language model is checked on its own (the vision side has its own tests). Per fixture: input_ids equal;
// every hidden state within 1e-4 (relative past magnitude 1); logit-lens top-10 ids equal except listed near
// ties; next-token logits within 1e-4; llava-interp's double norm equal to lens_last_double_norm_ids. Then: the
// tokenizer edge cases, --layers parsing and a partial run, and that the fixtures catch a wrong GQA mapping,
// interleaved RoPE and plain positions for Qwen2-VL's M-RoPE.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Json } from '../config/reader.js';
import { loadModel, type Model } from '../model.js';
import { LocalSource } from '../source/local.js';
import type { RawTensor } from '../source/types.js';
import type { TextSpec } from '../text/tensors.js';
import type { ImageFeatures } from '../types.js';
import { parseNpy } from '../util/npy.js';
import { parseLayers, runDeepLens, type LayerReader } from './deep.js';
import { buildPrompt, DEFAULT_QUESTION } from './prompt.js';
import { plainPositions, type LanguageSide } from './spec.js';
import { PromptTokenizer } from './tokenizer.js';

const TOL = 1e-4;
const IMAGES = 'test/fixtures/llava/images';
const MODEL_DIRS: Record<string, string> = {
  'tiny-llava': 'test/fixtures/llava/tiny-llava',
  'tiny-llava-next': 'test/fixtures/llava/tiny-llava-next',
  'tiny-llava-siglip': 'test/fixtures/arch/tiny-llava-siglip',
  'tiny-llava-onevision': 'test/fixtures/arch/tiny-llava-onevision',
  'tiny-paligemma': 'test/fixtures/arch/tiny-paligemma',
  'tiny-qwen2-vl': 'test/fixtures/arch/tiny-qwen2-vl',
  'tiny-qwen2_5-vl': 'test/fixtures/modern/tiny-qwen2_5-vl',
  'tiny-qwen3-vl': 'test/fixtures/modern/tiny-qwen3-vl',
  'tiny-idefics3': 'test/fixtures/modern/tiny-idefics3',
  'tiny-smolvlm': 'test/fixtures/modern/tiny-smolvlm',
  'tiny-internvl': 'test/fixtures/modern/tiny-internvl',
  'tiny-gemma3': 'test/fixtures/modern/tiny-gemma3',
  'tiny-gemma4': 'test/fixtures/modern/tiny-gemma4',
};

function npy(path: string) {
  return parseNpy(new Uint8Array(readFileSync(path)));
}
function f32(path: string): { data: Float32Array; shape: number[] } {
  const a = npy(path);
  assert.ok(a.data instanceof Float32Array, `${path} is float32`);
  return { data: a.data, shape: a.shape };
}
function i64(path: string): BigInt64Array {
  const a = npy(path);
  assert.ok(a.data instanceof BigInt64Array, `${path} is int64`);
  return a.data;
}

const models = new Map<string, Promise<Model>>();
function model(name: string): Promise<Model> {
  let m = models.get(name);
  // The deep fixtures (4.45.1 and 5.12.1 alike) are computed from Pillow pixels.
  if (!m) models.set(name, (m = loadModel(MODEL_DIRS[name]!, { imageBackend: 'pil' })));
  return m;
}
after(async () => {
  for (const m of models.values()) await (await m).close();
});

/** The model's own ImageFeatures for the image, with the fixture's layer-0 image rows as the features. */
async function fixtureFeatures(m: Model, dir: string, image: string): Promise<ImageFeatures> {
  const file = readdirSync(IMAGES).find((f) => f.startsWith(image) && !f.endsWith('.npy'))!;
  const f = await m.encode(join(IMAGES, file));
  const hs = f32(join(dir, 'hidden_states.npy'));
  const [, n, D] = hs.shape as [number, number, number];
  assert.equal(f.layout.tokens.length, n, 'image tokens');
  return { ...f, features: hs.data.slice(0, n * D) };
}

/** max |got - want| / max(1, |want|) */
function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'length');
  let d = 0;
  for (let i = 0; i < got.length; i++)
    d = Math.max(d, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return d;
}

/** Rows of [layers, n, k] ids that differ, outside the fixture's near ties. */
function idMismatches(got: BigInt64Array, want: BigInt64Array, n: number, k: number, ties: Json): string[] {
  const bad: string[] = [];
  const nearTies = (ties.nearTies ?? {}) as Record<string, number[]>;
  for (let row = 0; row < want.length / k; row++) {
    const layer = Math.floor(row / n);
    const r = row % n;
    if (nearTies[String(layer)]?.includes(r)) continue;
    for (let j = 0; j < k; j++) {
      if (got[row * k + j] !== want[row * k + j]) {
        bad.push(`layer ${layer} row ${r}`);
        break;
      }
    }
  }
  return bad;
}

const CASES: Array<{ set: string; reference: 'v4' | 'v5'; model: string; image: string }> = [];
for (const [set, reference] of [
  ['deep', 'v4'],
  ['deep-v5', 'v5'],
  ['deep-modern', 'v5'],
] as const) {
  for (const m of readdirSync(join('test/fixtures', set), { withFileTypes: true })) {
    if (!m.isDirectory()) continue;
    for (const im of readdirSync(join('test/fixtures', set, m.name), { withFileTypes: true })) {
      if (im.isDirectory()) CASES.push({ set, reference, model: m.name, image: im.name });
    }
  }
}

for (const c of CASES) {
  test(`deep lens ${c.set} ${c.model}/${c.image} (--reference ${c.reference})`, async () => {
    const dir = join('test/fixtures', c.set, c.model, c.image);
    const m = await model(c.model);
    const feats = await fixtureFeatures(m, dir, c.image);
    const ties = JSON.parse(readFileSync(join(dir, 'ties.json'), 'utf8')) as Json;
    const question = typeof ties.question === 'string' ? ties.question : undefined; // the fixture's own question
    const r = await m.deep(feats, { k: 10, reference: c.reference, prompt: question, keepHidden: true });
    const t = r.tensors;
    assert.deepEqual(Array.from(t.inputIds), Array.from(i64(join(dir, 'input_ids.npy'))), 'input_ids');
    const hs = f32(join(dir, 'hidden_states.npy'));
    const [L1, n] = hs.shape as [number, number, number];
    assert.equal(t.shape.layers, L1);
    const dh = relDiff(t.hiddenStates, hs.data);
    const want = i64(join(dir, 'lens_ids.npy'));
    const bad = idMismatches(t.lensIds, want, n, 10, ties);
    const dl = relDiff(t.lensScores, f32(join(dir, 'lens_scores.npy')).data);
    const df = relDiff(t.finalLogits!, f32(join(dir, 'final_logits.npy')).data);
    console.log(
      `  hidden ${dh.toExponential(2)}  lens scores ${dl.toExponential(2)}  final logits ${df.toExponential(2)}`,
    );
    assert.ok(dh <= TOL, `hidden states: ${dh} > ${TOL}`);
    assert.deepEqual(bad, [], 'lens top-10 ids outside near ties');
    assert.ok(dl <= TOL, `lens scores: ${dl} > ${TOL}`);
    assert.ok(df <= TOL, `final logits: ${df} > ${TOL}`);
    // The next token is the argmax of the final logits.
    const fl = f32(join(dir, 'final_logits.npy')).data;
    assert.equal(r.deep.next[0]!.id, fl.indexOf(Math.max(...fl)));
    assert.equal(r.deep.layers.length, L1);
    assert.equal(r.deep.numLayers, L1 - 1);

    // llava-interp's double norm at the last layer, on request only.
    const N = L1 - 1;
    const compat = await m.deep(feats, {
      k: 10,
      reference: c.reference,
      layers: [N],
      compat: 'llava-interp',
    });
    assert.deepEqual(
      Array.from(compat.tensors.lensIds),
      Array.from(i64(join(dir, 'lens_last_double_norm_ids.npy'))),
      'compat llava-interp = lens_last_double_norm_ids',
    );
    assert.equal(compat.deep.layers[0]!.label, `Layer ${N + 1}`);
    assert.notDeepEqual(Array.from(compat.tensors.lensIds), Array.from(want.slice(N * n * 10)));
  });
}

test('tokenizer: the prompt and the 18 edge cases of fixtures-deep encode identically', () => {
  for (const name of ['tiny-llava', 'tiny-llava-next']) {
    const dir = MODEL_DIRS[name]!;
    const tok = PromptTokenizer.create(
      readFileSync(join(dir, 'tokenizer.json')),
      JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Json,
      { rebuildAsLlama: false, where: dir },
    );
    const enc = JSON.parse(readFileSync(`test/fixtures/deep/${name}/tokenizer_encodings.json`, 'utf8')) as {
      encodings: Array<{ text: string; ids: number[] }>;
    };
    assert.ok(enc.encodings.length >= 18);
    for (const e of enc.encodings)
      assert.deepEqual(tok.encode(e.text), e.ids, `${name}: ${JSON.stringify(e.text)}`);
  }
});

test('tokenizer: transformers 5 rebuilds a LlamaTokenizer-class PaliGemma tokenizer (v5), 4.45 reads it as written', async () => {
  const m = await model('tiny-paligemma');
  const dir = 'test/fixtures/deep-v5/tiny-paligemma/shapes_120x80';
  const feats = await fixtureFeatures(m, dir, 'shapes_120x80');
  const v5 = await m.deep(feats, { layers: [0], reference: 'v5' });
  const v4 = await m.deep(feats, { layers: [0], reference: 'v4' });
  assert.deepEqual(Array.from(v5.tensors.inputIds), Array.from(i64(join(dir, 'input_ids.npy'))));
  // 4.45: tokenizer.json's Prepend("▁") normalizer, so the prefix after <s> starts with "▁an" (264), not "a" (387)
  const after = v4.deep.prompt.ids[50];
  assert.equal(after, 264);
  assert.equal(v5.deep.prompt.ids[50], 387);
});

test('--layers: all, ranges and lists; out of range is a BadInputError', () => {
  assert.deepEqual(parseLayers('all', 2), [0, 1, 2]);
  assert.deepEqual(parseLayers('1-2', 32), [1, 2]);
  assert.deepEqual(parseLayers('8,0,16, 8', 32), [0, 8, 16]);
  assert.deepEqual(parseLayers('0-2,30-32', 32), [0, 1, 2, 30, 31, 32]);
  assert.throws(() => parseLayers('33', 32), /past the last one/);
  assert.throws(() => parseLayers('3-1', 32), /backwards/);
  assert.throws(() => parseLayers('x', 32), /not a layer index/);
});

test('a partial run reads only the layers asked for and gives no next token', async () => {
  const m = await model('tiny-llava');
  const dir = 'test/fixtures/deep/tiny-llava/shapes_120x80';
  const feats = await fixtureFeatures(m, dir, 'shapes_120x80');
  const events: string[] = [];
  const r = await m.deep(feats, {
    keepHidden: true,
    layers: '1',
    k: 10,
    reference: 'v4',
    onProgress: (e) => events.push(e.status),
  });
  assert.deepEqual(
    r.deep.layers.map((l) => l.layer),
    [1],
  );
  assert.deepEqual(r.deep.next, []);
  assert.equal(r.tensors.finalLogits, null);
  const hs = f32(join(dir, 'hidden_states.npy'));
  const n = hs.shape[1]!;
  const D = hs.shape[2]!;
  assert.ok(relDiff(r.tensors.hiddenStates, hs.data.subarray(n * D, 2 * n * D)) <= TOL);
  assert.deepEqual(
    Array.from(r.tensors.lensIds),
    Array.from(i64(join(dir, 'lens_ids.npy')).subarray(n * 10, 2 * n * 10)),
  );
  assert.ok(events.includes('progress'));
});

// ---------------------------------------------------------------- wrong conventions are caught

/** The deep lens on tiny-llava's fixture with the layer tensors passed through `edit`; returns the last hidden diff. */
async function runEdited(
  name: string,
  dir: string,
  image: string,
  edit: (name: string, t: Float32Array) => Float32Array,
  lang?: LanguageSide,
  over: { text?: (t: TextSpec) => TextSpec; noInjections?: boolean; finalLogits?: boolean } = {},
): Promise<number> {
  const m = await model(name);
  const feats = await fixtureFeatures(m, dir, image);
  const src = new LocalSource(MODEL_DIRS[name]!);
  const index = await src.tensorIndex();
  const cfg = JSON.parse(readFileSync(join(MODEL_DIRS[name]!, 'tokenizer_config.json'), 'utf8')) as Json;
  const tok = PromptTokenizer.create(readFileSync(join(MODEL_DIRS[name]!, 'tokenizer.json')), cfg, {
    rebuildAsLlama: false,
    where: name,
  });
  const language = lang ?? m.family.language!;
  const prompt = buildPrompt({
    format: language.prompt,
    tokenizer: tok,
    chatTemplate: null,
    question:
      ((JSON.parse(readFileSync(join(dir, 'ties.json'), 'utf8')) as Json).question as string | undefined) ??
      DEFAULT_QUESTION,
    layout: feats.layout,
    where: name,
  });
  const readLayer: LayerReader = async (names) => {
    const raw = await src.readTensors(names);
    const out = new Map<string, RawTensor>();
    for (const [n, t] of raw) {
      const r = t as RawTensor;
      if (r.info.dtype !== 'F32') {
        out.set(n, r); // edits are made on the float32 checkpoints only (tiny-qwen2-vl is BF16)
        continue;
      }
      const v = new Float32Array(r.bytes.slice().buffer);
      out.set(n, { info: r.info, bytes: new Uint8Array(edit(n, v).buffer) });
    }
    return out;
  };
  const res = await runDeepLens({
    text: over.text ? over.text(m.family.text) : m.family.text,
    lang: language,
    lens: m.lensEngine,
    index,
    where: name,
    features: feats.features,
    injections: over.noInjections ? undefined : feats.injections,
    layout: feats.layout,
    prompt,
    layers: [m.family.text.numLayers],
    k: 10,
    keepHidden: true,
    readLayer,
  });
  // over.finalLogits: compare the next-token logits (what a text-row-only change shows in) instead
  if (over.finalLogits) return relDiff(res.finalLogits!, f32(join(dir, 'final_logits.npy')).data);
  const hs = f32(join(dir, 'hidden_states.npy'));
  const N = hs.shape[0]! - 1;
  const n = hs.shape[1]!;
  const D = hs.shape[2]!;
  return relDiff(res.layers[0]!.hidden!, hs.data.subarray(N * n * D, (N + 1) * n * D));
}

/** Rows (heads of `d` rows each) of a [rows, cols] matrix reordered: new block i = old block perm[i]. */
function permuteRows(t: Float32Array, cols: number, rowPerm: number[]): Float32Array {
  const out = new Float32Array(t.length);
  rowPerm.forEach((from, to) => out.set(t.subarray(from * cols, (from + 1) * cols), to * cols));
  return out;
}

const LLAVA_V4 = 'test/fixtures/deep/tiny-llava/shapes_120x80';
const D = 48;
const HD = 12; // 4 query heads, 2 kv heads of 12

test('the fixtures catch GQA with query head h on kv head h % n_kv (instead of h // groups)', async () => {
  // Swapping query heads 1 and 2 (and o_proj's matching input columns) makes the correct graph compute the
  // h % n_kv mapping: head 1 then reads kv head 1, head 2 kv head 0.
  const heads = [0, 2, 1, 3];
  const rowPerm = heads.flatMap((h) => Array.from({ length: HD }, (_, i) => h * HD + i));
  const correct = await runEdited('tiny-llava', LLAVA_V4, 'shapes_120x80', (_, t) => t);
  const wrong = await runEdited('tiny-llava', LLAVA_V4, 'shapes_120x80', (name, t) => {
    if (name.endsWith('q_proj.weight')) return permuteRows(t, D, rowPerm);
    if (name.endsWith('o_proj.weight')) {
      // o_proj [D, H*hd]: permute its columns the same way
      const out = new Float32Array(t.length);
      for (let r = 0; r < D; r++) rowPerm.forEach((from, to) => (out[r * D + to] = t[r * D + from]!));
      return out;
    }
    return t;
  });
  console.log(`  correct ${correct.toExponential(2)}, h % n_kv ${wrong.toExponential(2)}`);
  assert.ok(correct <= TOL);
  assert.ok(wrong > 100 * TOL, `the wrong GQA mapping must be caught (${wrong})`);
});

test('the fixtures catch interleaved RoPE (pairs 2i, 2i+1 instead of i, i + d/2)', async () => {
  // Reordering every head's q and k rows as [0, 2, 4, ..., 1, 3, 5, ...] keeps q·k but makes the half-split
  // rotation pair the original dimensions 2i and 2i+1: the interleaved convention.
  const within = [
    ...Array.from({ length: HD / 2 }, (_, i) => 2 * i),
    ...Array.from({ length: HD / 2 }, (_, i) => 2 * i + 1),
  ];
  const wrong = await runEdited('tiny-llava', LLAVA_V4, 'shapes_120x80', (name, t) => {
    if (!name.endsWith('q_proj.weight') && !name.endsWith('k_proj.weight')) return t;
    const heads = t.length / D / HD;
    const perm = Array.from({ length: heads }, (_, h) => within.map((i) => h * HD + i)).flat();
    return permuteRows(t, D, perm);
  });
  console.log(`  interleaved RoPE ${wrong.toExponential(2)}`);
  assert.ok(wrong > 100 * TOL, `interleaved RoPE must be caught (${wrong})`);
});

test('the fixtures catch plain positions for Qwen2-VL (M-RoPE is needed)', async () => {
  const m = await model('tiny-qwen2-vl');
  const lang = m.family.language!;
  const dir = 'test/fixtures/deep-v5/tiny-qwen2-vl/shapes_120x80';
  const right = await runEdited('tiny-qwen2-vl', dir, 'shapes_120x80', (_, t) => t);
  const plain: LanguageSide = {
    ...lang,
    positions: (seq) => {
      const p = plainPositions(seq);
      const data = new Float32Array(3 * seq);
      for (let r = 0; r < 3; r++) data.set(p.data, r * seq);
      return { rows: 3, data };
    },
  };
  const wrong = await runEdited('tiny-qwen2-vl', dir, 'shapes_120x80', (_, t) => t, plain);
  console.log(`  M-RoPE ${right.toExponential(2)}, arange positions ${wrong.toExponential(2)}`);
  assert.ok(right <= TOL);
  assert.ok(wrong > 100 * TOL);
});

test('the fixtures catch Qwen3-VL without DeepStack, and with chunked instead of interleaved M-RoPE', async () => {
  const dir = 'test/fixtures/deep-modern/tiny-qwen3-vl/shapes_120x80';
  const same = (_: string, t: Float32Array) => t;
  const right = await runEdited('tiny-qwen3-vl', dir, 'shapes_120x80', same);
  const noStack = await runEdited('tiny-qwen3-vl', dir, 'shapes_120x80', same, undefined, {
    noInjections: true,
  });
  const chunked = await runEdited('tiny-qwen3-vl', dir, 'shapes_120x80', same, undefined, {
    text: (t) => ({ ...t, decoder: { ...t.decoder, mropeInterleaved: false } }),
  });
  const noQkNorm = await runEdited('tiny-qwen3-vl', dir, 'shapes_120x80', same, undefined, {
    text: (t) => ({ ...t, decoder: { ...t.decoder, qkNorm: false } }),
  });
  console.log(
    `  right ${right.toExponential(2)}, no DeepStack ${noStack.toExponential(2)}, chunked M-RoPE ${chunked.toExponential(2)}, no q/k norm ${noQkNorm.toExponential(2)}`,
  );
  assert.ok(right <= TOL);
  for (const wrong of [noStack, chunked, noQkNorm]) assert.ok(wrong > 100 * TOL);
});

test('the fixtures catch Gemma 3 with a causal image block, Llama norms, 1/sqrt(d), plain-w q/k norms, one rope or no window', async () => {
  const dir = 'test/fixtures/deep-modern/tiny-gemma3/shapes_120x80';
  const same = (_: string, t: Float32Array) => t;
  const m = await model('tiny-gemma3');
  const dec = (over: Partial<TextSpec['decoder']>) => ({
    text: (t: TextSpec): TextSpec => ({ ...t, decoder: { ...t.decoder, ...over } }),
  });
  const rope = m.family.text.decoder.ropeByType!;
  const right = await runEdited('tiny-gemma3', dir, 'shapes_120x80', same);
  const wrong = {
    // no token_type_ids: the image block stays causal
    'causal image block': await runEdited('tiny-gemma3', dir, 'shapes_120x80', same, {
      ...m.family.language!,
      imageBlocks: false,
    }),
    // Llama's two norms: post_attention_layernorm before the MLP, no pre/post feed-forward norms
    'no sandwich norms': await runEdited(
      'tiny-gemma3',
      dir,
      'shapes_120x80',
      same,
      undefined,
      dec({ sandwichNorms: false }),
    ),
    '1/sqrt(head_dim)': await runEdited(
      'tiny-gemma3',
      dir,
      'shapes_120x80',
      same,
      undefined,
      dec({ attnScale: undefined }),
    ),
    'w q/k norms': await runEdited(
      'tiny-gemma3',
      dir,
      'shapes_120x80',
      same,
      undefined,
      dec({ qkNormKind: 'rms' }),
    ),
    // the sliding layers' rope everywhere (no global theta, no linear factor)
    'one rope': await runEdited(
      'tiny-gemma3',
      dir,
      'shapes_120x80',
      same,
      undefined,
      dec({
        ropeByType: { sliding_attention: rope.sliding_attention, full_attention: rope.sliding_attention },
      }),
    ),
    'no linear rope factor': await runEdited(
      'tiny-gemma3',
      dir,
      'shapes_120x80',
      same,
      undefined,
      dec({
        ropeByType: { ...rope, full_attention: { ...rope.full_attention, factor: 1 } },
      }),
    ),
    // no window on the sliding layers (sliding_window 24 < the prompt's 45 tokens): the image rows (8..23) never
    // reach past the window, the text after them does, so the next-token logits show it
    'no sliding window': await runEdited('tiny-gemma3', dir, 'shapes_120x80', same, undefined, {
      ...dec({ slidingWindow: null }),
      finalLogits: true,
    }),
  };
  console.log(
    `  right ${right.toExponential(2)}, ${Object.entries(wrong)
      .map(([k, v]) => `${k} ${v.toExponential(2)}`)
      .join(', ')}`,
  );
  assert.ok(right <= TOL);
  for (const [k, v] of Object.entries(wrong)) assert.ok(v > 100 * TOL, `${k} must be caught (${v})`);
});

test('the fixtures catch Gemma 4 without PLE, layer_scalar, proportional RoPE, scale 1.0 or the softcap', async () => {
  const dir = 'test/fixtures/deep-modern/tiny-gemma4/shapes_120x80';
  const same = (_: string, t: Float32Array) => t;
  const m = await model('tiny-gemma4');
  const g4 = m.family.text.decoder.gemma4!;
  const dec = (over: Partial<TextSpec['decoder']>, extras: Partial<typeof g4> = {}) => ({
    text: (t: TextSpec): TextSpec => ({
      ...t,
      decoder: { ...t.decoder, ...over, gemma4: { ...t.decoder.gemma4!, ...extras } },
    }),
  });
  const run = (edit: typeof same, over: Parameters<typeof runEdited>[5] = {}) =>
    runEdited('tiny-gemma4', dir, 'shapes_120x80', edit, undefined, over);
  const right = await run(same);
  const rightLogits = await run(same, { finalLogits: true });
  const wrong = {
    'no per-layer inputs': await run(same, dec({}, { perLayerInput: 0 })),
    // the stored layer_scalar ignored (read as 1)
    'no layer_scalar': await run((name, t) => (name.endsWith('layer_scalar') ? new Float32Array([1]) : t)),
    'default RoPE on full layers': await run(same, dec({}, { fullRotated: g4.globalHeadDim / 2 })),
    '1/sqrt(head_dim)': await run(same, dec({ attnScale: undefined })),
    'no final softcap (logits)': await run(same, { ...dec({}, { finalSoftcap: null }), finalLogits: true }),
  };
  console.log(
    `  right ${right.toExponential(2)} (logits ${rightLogits.toExponential(2)}), ${Object.entries(wrong)
      .map(([k, v]) => `${k} ${v.toExponential(2)}`)
      .join(', ')}`,
  );
  assert.ok(right <= TOL && rightLogits <= TOL);
  for (const [k, v] of Object.entries(wrong)) assert.ok(v > 100 * TOL, `${k} must be caught (${v})`);
});

test('fixture copies exist for both reference versions', () => {
  assert.ok(existsSync('test/fixtures/deep/tiny-llava/tokenizer_encodings.json'));
  assert.ok(CASES.some((c) => c.reference === 'v4') && CASES.some((c) => c.reference === 'v5'));
});
