// The image-processor settings from either file layout: preprocessor_config.json (4.x, most hub repos) as is, or
// processor_config.json's nested image_processor (5.x save_pretrained), read from the 5.12.1 Qwen2.5-VL fixture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CheckpointError } from '../errors.js';
import { imageProcessorDict } from './processor-config.js';

const nested = JSON.parse(
  readFileSync('test/fixtures/modern/tiny-qwen2_5-vl/processor_config.json', 'utf8'),
) as Record<string, unknown>;

test('processor_config.json: the nested image_processor, not the video settings', () => {
  const r = imageProcessorDict(null, nested, 'dir')!;
  assert.equal(r.file, 'processor_config.json');
  assert.equal(r.dict['image_processor_type'], 'Qwen2VLImageProcessor');
  assert.deepEqual(r.dict['size'], { longest_edge: 4096, shortest_edge: 1024 }); // video: 602112 / 100352
});

test('preprocessor_config.json wins when both exist; neither, or no image_processor, gives null', () => {
  const flat = { image_processor_type: 'CLIPImageProcessor' };
  assert.equal(imageProcessorDict(flat, nested, 'dir')!.dict, flat);
  assert.equal(imageProcessorDict(null, null, 'dir'), null);
  assert.equal(imageProcessorDict(null, { processor_class: 'X' }, 'dir'), null);
});

test('a non-object image_processor is a checkpoint error naming the file', () => {
  assert.throws(
    () => imageProcessorDict(null, { image_processor: [1] }, 'dir'),
    (e: unknown) => e instanceof CheckpointError && /processor_config\.json.*image_processor/.test(e.message),
  );
});
