import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CheckpointError, UnsupportedModelError } from '../../errors.js';
import { ConfigReader } from '../../config/reader.js';
import { LLAVA_NEXT_DEFAULT_PINPOINTS, parseLlavaNextConfig } from '../llava_next/config.js';
import { parseLlavaConfig } from './config.js';

const FIX = 'test/fixtures/llava';
const read = (p: string) =>
  new ConfigReader(JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>, p);

test('tiny-llava-next: omitted values take the HF class defaults', () => {
  const c = parseLlavaNextConfig(read(`${FIX}/tiny-llava-next/config.json`));
  assert.equal(c.vision.hiddenAct, 'quick_gelu'); // CLIPVisionConfig default
  assert.equal(c.vision.layerNormEps, 1e-5);
  assert.equal(c.vision.numChannels, 3);
  assert.equal(c.text.rmsNormEps, 1e-5); // written explicitly
  assert.equal(c.text.tieWordEmbeddings, false); // LlamaConfig default
  assert.equal(c.featureLayerIndex, 2); // -2 of 3 layers -> hidden_states[2]
  assert.deepEqual(c.gridPinpoints[0], [32, 64]);
});

test('an empty llava config is LLaVA-1.5-7B shaped (LlavaConfig defaults)', () => {
  const c = parseLlavaConfig(new ConfigReader({ model_type: 'llava' }, 'config.json'));
  assert.equal(c.vision.hiddenSize, 1024);
  assert.equal(c.vision.patchSize, 14);
  assert.equal(c.vision.imageSize, 336);
  assert.equal(c.vision.numHiddenLayers, 24);
  assert.equal(c.text.vocabSize, 32000);
  assert.equal(c.text.rmsNormEps, 1e-6);
  assert.equal(c.featureLayerIndex, 23);
  assert.equal(c.strategy, 'default');
  assert.equal(c.imageTokenIndex, 32000);
  const n = parseLlavaNextConfig(new ConfigReader({ model_type: 'llava_next' }, 'config.json'));
  assert.deepEqual(n.gridPinpoints, LLAVA_NEXT_DEFAULT_PINPOINTS);
});

test('bad config values name the field', () => {
  assert.throws(
    () =>
      parseLlavaConfig(new ConfigReader({ model_type: 'llava', vision_feature_layer: 40 }, 'x/config.json')),
    (e: Error) => e instanceof CheckpointError && /vision_feature_layer 40 is out of range/.test(e.message),
  );
  assert.throws(
    () =>
      parseLlavaConfig(
        new ConfigReader({ model_type: 'llava', vision_feature_select_strategy: 'cls' }, 'x/config.json'),
      ),
    (e: Error) => e instanceof CheckpointError && /vision_feature_select_strategy/.test(e.message),
  );
  assert.throws(
    () =>
      parseLlavaConfig(
        new ConfigReader({ model_type: 'llava', vision_feature_layer: [-2, -5] }, 'x/config.json'),
      ),
    (e: Error) => e instanceof UnsupportedModelError,
  );
  assert.throws(
    () =>
      parseLlavaConfig(
        new ConfigReader({ model_type: 'llava', vision_config: { hidden_size: 'big' } }, 'x/config.json'),
      ),
    (e: Error) =>
      e instanceof CheckpointError &&
      /hidden_size/.test(e.message) &&
      /x\/config.json → vision_config/.test(e.message),
  );
});
