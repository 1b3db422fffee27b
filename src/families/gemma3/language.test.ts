// Gemma 3's deep-lens input side against transformers 5.12.1 (test/fixtures/modern/tiny-gemma3, fixtures-modern):
// the chat prompt's input_ids for every run (single view and pan-and-scan, through the checkpoint's chat template
// and through the fallback google/gemma-3-4b-it template), the image positions = token_type_ids, and the attention
// masks of both layer types equal to the captured attention_allowed.npy (causal + sliding window, or-ed with the
// bidirectional image blocks); the plain causal mask must differ.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { attentionMask, MASKED } from '../../graph/decoder.js';
import { loadImage } from '../../image/decode.js';
import { positionRuns, runDeepLens, type LayerReader } from '../../llm/deep.js';
import type { LanguageSide } from '../../llm/spec.js';
import { loadModel } from '../../model.js';
import { LocalSource } from '../../source/local.js';
import type { RawTensor } from '../../source/types.js';
import { buildPrompt } from '../../llm/prompt.js';
import { PromptTokenizer } from '../../llm/tokenizer.js';
import { parseNpy } from '../../util/npy.js';
import { parseGemma3Config } from './config.js';
import { gemma3ProcessorSpec } from './index.js';
import { GEMMA3_CHAT_TEMPLATE, GEMMA3_LANGUAGE } from './language.js';
import { gemma3Layout } from './layout.js';
import { gemma3Preprocess } from './processor.js';

const DIR = 'test/fixtures/modern/tiny-gemma3';
const IMAGES = 'test/fixtures/modern/images';
const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const npy = (p: string) => parseNpy(readFileSync(p));
const cfg = parseGemma3Config(new ConfigReader(json(`${DIR}/config.json`), DIR));
const runs = [
  ...readdirSync(`${DIR}/expected`).map((r) => join(DIR, 'expected', r)),
  ...readdirSync(`${DIR}/pan_and_scan`).map((r) => join(DIR, 'pan_and_scan', r)),
];
const tokenizer = PromptTokenizer.create(
  readFileSync(`${DIR}/tokenizer.json`),
  json(`${DIR}/tokenizer_config.json`),
  {
    rebuildAsLlama: false,
    where: DIR,
  },
);
const template = readFileSync(`${DIR}/chat_template.jinja`, 'utf8');

async function layoutOf(run: string) {
  const name = run.split('/').pop()!;
  const pas = name.endsWith('_pan_and_scan');
  const stem = name.replace(/_pan_and_scan$/, '');
  const { spec } = gemma3ProcessorSpec(null, json(`${DIR}/processor_config.json`), cfg, 'torchvision', DIR);
  const s = pas
    ? { ...spec, panAndScan: { minCropSize: 16, maxNumCrops: 3, minRatioToActivate: 1.2 } }
    : spec;
  const rgb = (
    await loadImage(
      join(
        IMAGES,
        readdirSync(IMAGES).find((f) => f.startsWith(stem))!,
      ),
    )
  ).image;
  return gemma3Layout(gemma3Preprocess(rgb, s), cfg.tokenGrid);
}

describe('gemma3: the deep lens prompt', () => {
  test('the chat template and the fallback template give the fixture input_ids; image positions = token_type_ids', async () => {
    assert.equal(GEMMA3_CHAT_TEMPLATE, template, 'the fallback is the checkpoint template verbatim');
    for (const run of runs) {
      const layout = await layoutOf(run);
      const want = Array.from(npy(join(run, 'input_ids.npy')).data as BigInt64Array, Number);
      const types = Array.from(npy(join(run, 'token_type_ids.npy')).data as BigInt64Array, Number);
      for (const chatTemplate of [template, null]) {
        const p = buildPrompt({
          format: GEMMA3_LANGUAGE.prompt,
          tokenizer,
          chatTemplate,
          layout,
          where: DIR,
        });
        assert.deepEqual(p.ids, want, `${run} input_ids (${chatTemplate ? 'chat template' : 'fallback'})`);
        assert.deepEqual(
          p.imagePositions,
          types.flatMap((t, i) => (t === 1 ? [i] : [])),
          `${run} image positions`,
        );
      }
      console.log(
        `  ${run.split('/').pop()}: ${want.length} ids, ${positionRuns(types.flatMap((t, i) => (t ? [i] : []))).length} image blocks`,
      );
    }
  });

  test('--raw-prompt: the processor adds <bos> and expands <start_of_image>', async () => {
    const layout = await layoutOf(join(DIR, 'expected', 'shapes_120x80'));
    const p = buildPrompt({
      format: GEMMA3_LANGUAGE.prompt,
      tokenizer,
      chatTemplate: template,
      raw: 'Look: <start_of_image>',
      layout,
      where: DIR,
    });
    assert.equal(p.ids[0], 2, '<bos> added');
    assert.equal(p.imagePositions.length, 16);
    assert.ok(p.expanded.endsWith('<end_of_image>\n\n'));
  });

  test('the masks of both layer types equal attention_allowed.npy (causal + window, or image blocks)', async () => {
    const cases: Array<[string, string]> = [
      [
        join(DIR, 'expected', 'shapes_120x80'),
        'test/fixtures/deep-modern/tiny-gemma3/shapes_120x80/attention_allowed.npy',
      ],
      [
        join(DIR, 'pan_and_scan', 'gradient_37x23_pan_and_scan'),
        join(DIR, 'pan_and_scan', 'gradient_37x23_pan_and_scan', 'attention_allowed.npy'),
      ],
    ];
    const window = cfg.decoder.slidingWindow;
    for (const [run, file] of cases) {
      const a = npy(file);
      const [types, S] = a.shape as [number, number, number];
      assert.equal(types, 2);
      const allowed = a.data as Uint8Array;
      const p = buildPrompt({
        format: GEMMA3_LANGUAGE.prompt,
        tokenizer,
        chatTemplate: template,
        layout: await layoutOf(run),
        where: DIR,
      });
      assert.equal(p.ids.length, S);
      const blocks = positionRuns(p.imagePositions);
      // fixture order: full_attention, then sliding_attention
      const masks = [attentionMask(S, 'causal', null, blocks), attentionMask(S, 'causal', window, blocks)];
      const causal = [attentionMask(S, 'causal', null), attentionMask(S, 'causal', window)];
      masks.forEach((m, t) => {
        const got = Array.from(m, (v) => (v === MASKED ? 0 : 1));
        assert.deepEqual(got, Array.from(allowed.subarray(t * S * S, (t + 1) * S * S)), `${file} type ${t}`);
        const plain = Array.from(causal[t]!, (v) => (v === MASKED ? 0 : 1));
        assert.notDeepEqual(plain, got, 'the plain causal mask must differ');
      });
      console.log(`  ${file}: ${S}x${S}, ${blocks.length} blocks, window ${window}`);
    }
  });
});

describe('gemma3: the deep lens on a pan-and-scan prompt (three image blocks)', () => {
  const run = join(DIR, 'pan_and_scan', 'gradient_37x23_pan_and_scan');
  const model = loadModel(DIR, { imageBackend: 'pil' });
  after(async () => (await model).close());
  /** max |got - want| / max(1, |want|) */
  const rel = (got: ArrayLike<number>, want: ArrayLike<number>): number => {
    assert.equal(got.length, want.length);
    let d = 0;
    for (let i = 0; i < got.length; i++)
      d = Math.max(d, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
    return d;
  };
  async function deep(lang: LanguageSide) {
    const m = await model;
    const layout = await layoutOf(run);
    const hs = npy(join(run, 'hidden_states.npy'));
    const [L1, n, D] = hs.shape as [number, number, number];
    const src = new LocalSource(DIR);
    const prompt = buildPrompt({
      format: lang.prompt,
      tokenizer,
      chatTemplate: template,
      layout,
      where: DIR,
    });
    const readLayer: LayerReader = async (names) =>
      (await src.readTensors(names)) as ReadonlyMap<string, RawTensor>;
    const r = await runDeepLens({
      text: m.family.text,
      lang,
      lens: m.lensEngine,
      index: await src.tensorIndex(),
      where: DIR,
      features: (hs.data as Float32Array).slice(0, n * D), // hidden_states[0]'s image rows
      layout,
      prompt,
      layers: Array.from({ length: L1 }, (_, i) => i),
      k: 10,
      keepHidden: true,
      readLayer,
    });
    const hidden = new Float32Array(L1 * n * D);
    r.layers.forEach((l, i) => hidden.set(l.hidden!, i * n * D));
    return { r, n, hidden, want: hs.data as Float32Array };
  }

  test('hidden states, lens top-10 ids and final logits within 1e-4; a causal image block fails', async () => {
    const { r, n, hidden, want } = await deep(GEMMA3_LANGUAGE);
    const dh = rel(hidden, want);
    const df = rel(r.finalLogits!, npy(join(run, 'final_logits.npy')).data as Float32Array);
    const ids = npy(join(run, 'lens_ids.npy')).data as BigInt64Array; // no near ties in this run (expected.json)
    const got = r.layers.flatMap((l) => Array.from(l.logit.ids, (v) => BigInt(v)));
    assert.equal(n, 48);
    assert.deepEqual(got, Array.from(ids), 'lens top-10 ids');
    const causal = await deep({ ...GEMMA3_LANGUAGE, imageBlocks: false });
    const dc = rel(causal.hidden, want);
    console.log(
      `  hidden ${dh.toExponential(2)}  final logits ${df.toExponential(2)}  causal blocks ${dc.toExponential(2)}`,
    );
    assert.ok(dh <= 1e-4 && df <= 1e-4);
    assert.ok(dc > 1e-2, `the causal image blocks must be caught (${dc})`);
  });
});
