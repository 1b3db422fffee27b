import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeNpy, parseNpy } from './npy.js';

test('npy round trip through a Node Buffer (Buffer#slice is a view, parseNpy must copy)', () => {
  const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const bytes = Buffer.from(encodeNpy(data, [2, 3]));
  const a = parseNpy(bytes);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual([...(a.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
});

test('fortran-order arrays are returned in C order', () => {
  // numpy: np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)) stores 0 3 1 4 2 5.
  const header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
  const pad = 64 - ((10 + header.length + 1) % 64);
  const h = header + ' '.repeat(pad) + '\n';
  const body = Float32Array.from([0, 3, 1, 4, 2, 5]);
  const buf = new Uint8Array(10 + h.length + body.byteLength);
  buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(buf.buffer).setUint16(8, h.length, true);
  buf.set(new TextEncoder().encode(h), 10);
  buf.set(new Uint8Array(body.buffer), 10 + h.length);
  assert.deepEqual([...(parseNpy(buf).data as Float32Array)], [0, 1, 2, 3, 4, 5]);
});
