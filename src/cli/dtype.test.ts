// --dtype (the opt-in quantized deep lens): parsed with --layers, refused alone or with an unknown value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadInputError } from '../errors.js';
import { parseDeepFlags } from './args.js';

test('--dtype q8|q4|fp32 rides on --layers; anything else, or --dtype alone, is a BadInputError', () => {
  assert.equal(parseDeepFlags({ layers: 'all', dtype: 'q8' })?.dtype, 'q8');
  assert.equal(parseDeepFlags({ layers: '0-2', dtype: 'q4' })?.dtype, 'q4');
  assert.equal(parseDeepFlags({ layers: 'all', dtype: 'fp32' })?.dtype, 'fp32');
  assert.equal(parseDeepFlags({ layers: 'all' })?.dtype, undefined); // default: fp32, exact
  assert.throws(() => parseDeepFlags({ layers: 'all', dtype: 'int8' }), BadInputError);
  assert.throws(() => parseDeepFlags({ dtype: 'q8' }), /--dtype needs --layers/);
});
