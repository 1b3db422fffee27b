import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BadInputError,
  BusyError,
  errorFromData,
  errorToData,
  ImgTokensError,
  NonFiniteError,
  EXIT_CODES,
} from './errors.js';

/** What postMessage does to a value. */
const clone = <T>(v: T): T => structuredClone(v);

test('errors survive the plain-data round trip a worker thread needs: class, kind, hint, fields', () => {
  const nf = errorFromData(
    clone(errorToData(new NonFiniteError('vision.layer.3.out', 'NaN at row 2', { hint: 'h' }))),
  );
  assert.ok(nf instanceof NonFiniteError);
  assert.equal(nf.stage, 'vision.layer.3.out');
  assert.equal(nf.hint, 'h');
  assert.equal(EXIT_CODES[nf.kind], 11);
  const busy = errorFromData(clone(errorToData(new BusyError('queue full', 7))));
  assert.ok(busy instanceof BusyError);
  assert.equal(busy.retryAfterSeconds, 7);
  const bad = errorFromData(clone(errorToData(new BadInputError('no such file: x'))));
  assert.ok(bad instanceof BadInputError);
  assert.equal(bad.message, 'no such file: x');
  const internal = errorFromData(clone(errorToData(new ImgTokensError('internal', 'oops'))));
  assert.ok(internal instanceof ImgTokensError);
  assert.equal(internal.kind, 'internal');
  const plain = errorFromData(clone(errorToData(new TypeError('boom'))));
  assert.ok(!(plain instanceof ImgTokensError));
  assert.equal(plain.message, 'boom');
  assert.equal(errorFromData(errorToData('a string')).message, 'a string');
});
