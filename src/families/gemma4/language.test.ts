// Gemma 4's deep-lens prompt against transformers 5.12.1 (test/fixtures/modern/tiny-gemma4): the input_ids of every
// run through the checkpoint's chat template and through the fallback (the one-turn core of gemma-4-E2B-it's), and
// the image positions = mm_token_type_ids. The decoder itself is checked in src/llm/deep.test.ts.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigReader, type Json } from '../../config/reader.js';
import { buildPrompt } from '../../llm/prompt.js';
import { PromptTokenizer } from '../../llm/tokenizer.js';
import { loadModel } from '../../model.js';
import { parseNpy } from '../../util/npy.js';
import { parseGemma4Config } from './config.js';
import { GEMMA4_LANGUAGE } from './language.js';

const DIR = 'test/fixtures/modern/tiny-gemma4';
const IMAGES = 'test/fixtures/modern/images';
const json = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const ints = (p: string) => Array.from(parseNpy(readFileSync(p)).data as BigInt64Array, Number);
const model = loadModel(DIR, { imageBackend: 'torchvision' });
after(async () => (await model).close());

test('gemma4: the chat template and the fallback give the fixture input_ids; image positions = mm_token_type_ids', async () => {
  const m = await model;
  const tokenizer = PromptTokenizer.create(
    readFileSync(`${DIR}/tokenizer.json`),
    json(`${DIR}/tokenizer_config.json`),
    {
      rebuildAsLlama: false,
      where: DIR,
    },
  );
  const template = readFileSync(`${DIR}/chat_template.jinja`, 'utf8');
  for (const run of readdirSync(`${DIR}/expected`)) {
    const f = await m.encode(
      join(
        IMAGES,
        readdirSync(IMAGES).find((x) => x.startsWith(run))!,
      ),
    );
    const want = ints(join(DIR, 'expected', run, 'input_ids.npy'));
    const types = ints(join(DIR, 'expected', run, 'mm_token_type_ids.npy'));
    for (const chatTemplate of [template, null]) {
      const p = buildPrompt({
        format: GEMMA4_LANGUAGE.prompt,
        tokenizer,
        chatTemplate,
        layout: f.layout,
        where: DIR,
      });
      assert.deepEqual(p.ids, want, `${run} (${chatTemplate ? 'chat template' : 'fallback'})`);
      assert.deepEqual(
        p.imagePositions,
        types.flatMap((t, i) => (t === 1 ? [i] : [])),
      );
    }
    console.log(`  ${run}: ${want.length} ids, ${f.layout.tokens.length} image tokens`);
  }
});

test('gemma4: settings the shared layer does not run are refused with a typed error', () => {
  const cfg = JSON.parse(readFileSync('test/fixtures/modern/tiny-gemma4/config.json', 'utf8')) as Json;
  const text = cfg.text_config as Json;
  for (const [k, v, why] of [
    ['attention_k_eq_v', true, /attention_k_eq_v/],
    ['enable_moe_block', true, /MoE/],
    ['use_bidirectional_attention', 'all', /"all"/],
  ] as const) {
    const c = parseGemma4Config(new ConfigReader({ ...cfg, text_config: { ...text, [k]: v } } as Json, 'x'));
    assert.match(c.text.decoder.problem ?? '', why);
  }
});
