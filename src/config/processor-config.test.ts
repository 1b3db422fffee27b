// The image-processor settings reader: nested (transformers 5.x) vs flat (4.x) layouts and their precedence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageProcessorSettings } from './processor-config.js';

test('nested processor_config.json wins over a flat preprocessor_config.json; flat is the fallback', () => {
  const nested = { image_processor: { size: { height: 32, width: 32 } }, image_seq_length: 16 };
  const flat = { size: { height: 224, width: 224 } };
  const both = imageProcessorSettings(flat, nested, 'dir');
  assert.deepEqual(both.settings, nested.image_processor);
  assert.equal(both.where, 'dir/processor_config.json → image_processor');
  assert.equal(both.processor['image_seq_length'], 16);
  const legacy = imageProcessorSettings(flat, { image_seq_length: 256 }, 'dir');
  assert.deepEqual(
    [legacy.settings, legacy.where, legacy.found],
    [flat, 'dir/preprocessor_config.json', true],
  );
  const none = imageProcessorSettings(null, null, 'dir');
  assert.deepEqual([none.settings, none.found], [{}, false]);
  assert.throws(() => imageProcessorSettings(null, { image_processor: [1] }, 'dir'), /must be an object/);
});
