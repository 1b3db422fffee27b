// The image-processor settings from either file layout: preprocessor_config.json (4.x, most hub repos) as is, or
// processor_config.json's nested image_processor (5.x save_pretrained), read from the 5.12.1 Qwen2.5-VL fixture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CheckpointError } from '../errors.js';
import { imageProcessorSettings } from './processor-config.js';

const nested = JSON.parse(
  readFileSync('test/fixtures/modern/tiny-qwen2_5-vl/processor_config.json', 'utf8'),
) as Record<string, unknown>;

test('processor_config.json: the nested image_processor, not the video settings', () => {
  const r = imageProcessorSettings(null, nested, 'dir');
  assert.equal(r.found, true);
  assert.equal(r.where, 'dir/processor_config.json → image_processor');
  assert.equal(r.settings['image_processor_type'], 'Qwen2VLImageProcessor');
  assert.deepEqual(r.settings['size'], { longest_edge: 4096, shortest_edge: 1024 }); // video: 602112 / 100352
  assert.equal(r.processor['processor_class'], 'Qwen2_5_VLProcessor');
});

test('a flat preprocessor_config.json is used when processor_config.json nests none; neither: not found', () => {
  const flat = { image_processor_type: 'CLIPImageProcessor' };
  const r = imageProcessorSettings(flat, { image_seq_length: 64 }, 'dir');
  assert.equal(r.settings, flat);
  assert.equal(r.where, 'dir/preprocessor_config.json');
  assert.equal(r.processor['image_seq_length'], 64);
  assert.equal(imageProcessorSettings(null, null, 'dir').found, false);
});

test('a non-object image_processor is a checkpoint error naming the file', () => {
  assert.throws(
    () => imageProcessorSettings(null, { image_processor: [1] }, 'dir'),
    (e: unknown) => e instanceof CheckpointError && /processor_config\.json.*image_processor/.test(e.message),
  );
});

test('nested processor_config.json wins over a flat preprocessor_config.json; flat is the fallback', () => {
  const nestedCfg = { image_processor: { size: { height: 32, width: 32 } }, image_seq_length: 16 };
  const flat = { size: { height: 224, width: 224 } };
  const both = imageProcessorSettings(flat, nestedCfg, 'dir');
  assert.deepEqual(both.settings, nestedCfg.image_processor);
  assert.equal(both.where, 'dir/processor_config.json → image_processor');
  assert.equal(both.processor['image_seq_length'], 16);
});
