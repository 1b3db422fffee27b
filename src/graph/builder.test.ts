// Tiny graphs built with GraphBuilder, loaded and run by onnxruntime-node, checked against values worked by hand.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BadInputError } from '../errors.js';
import { Session } from '../runtime/session.js';
import { GraphBuilder } from './builder.js';

/** float32 -> IEEE half bits, for test weights that are exact in F16. */
function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = (u >>> 13) & 0x3ff;
  if (x === 0) return sign;
  assert.ok(exp > 0 && exp < 31, `test value ${x} must be a normal half`);
  return sign | (exp << 10) | mant;
}

test('MatMul + Add + TopK graph over an F16 initializer runs in onnxruntime', async () => {
  const g = new GraphBuilder({ name: 'tiny' });
  const x = g.input('x', 'float32', ['tokens', 3]); // [tokens, hidden]
  const vocab = [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [0.5, 0.5, 0],
  ]; // [vocab, hidden]
  const bits = new Uint16Array(vocab.flat().map(f16Bits));
  const e = g.initializer('embed', new Uint8Array(bits.buffer), 'F16', [4, 3]); // cast to f32 in-graph
  const scores = g.add(g.matmul(x, g.transpose(e, [1, 0]), 'scores.raw'), 0.25, 'scores'); // [tokens, vocab]
  const top = g.topK(scores, 2, { name: 'top' });
  g.output(scores);
  g.output(top.values, 'top_scores');
  g.output(top.indices, 'top_ids');
  const bytes = g.build();

  const s = await Session.create(bytes);
  assert.deepEqual([...s.outputNames], ['scores', 'top_scores', 'top_ids']);
  const out = await s.run({ x: { data: new Float32Array([2, 1, 0, 0, 0, 3]), shape: [2, 3] } });
  assert.deepEqual([...out.f32('scores', [2, 4]).data], [2.25, 1.25, 0.25, 1.75, 0.25, 0.25, 3.25, 0.25]);
  assert.deepEqual([...out.f32('top_scores').data], [2.25, 1.75, 3.25, 0.25]);
  const ids = out.i64('top_ids', [2, 2]).data;
  assert.deepEqual([ids[0], ids[1], ids[2]], [0n, 3n, 2n]);
  await s.release();
});

test('LayerNormalization, Softmax, Reshape, Transpose, Slice, Conv and ReduceMean', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 1, 2, 2]); // [N, C, H, W]
  const w = g.initFloat32('w', new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
  const c = g.conv(x, w, null, { strides: [2, 2], name: 'conv' }); // [1, 1, 1, 1]
  const flat = g.reshape(x, [1, 4], 'flat'); // [1, 4]
  const ln = g.layerNorm(flat, g.initFloat32('ln.w', new Float32Array([1, 1, 1, 1]), [4]), null, {
    epsilon: 0,
    name: 'ln',
  });
  const sm = g.softmax(g.slice(flat, [0], [2], [1]), -1, 'sm'); // [1, 2]
  const t = g.transpose(g.reshape(x, [2, 2]), [1, 0], 't');
  const m = g.reduce('ReduceMean', flat, [1], { keepdims: false, name: 'mean' });
  for (const v of [c, ln, sm, t, m]) g.output(v);
  const s = await Session.create(g.build());
  const out = await s.run({ x: { data: new Float32Array([1, 2, 3, 4]), shape: [1, 1, 2, 2] } });
  assert.deepEqual([...out.f32('conv').data], [30]);
  const sd = Math.sqrt(1.25);
  const lnGot = out.f32('ln').data;
  [-1.5, -0.5, 0.5, 1.5].forEach((v, i) => assert.ok(Math.abs(lnGot[i] - v / sd) < 1e-6));
  const smGot = out.f32('sm').data;
  assert.ok(Math.abs(smGot[0] - 1 / (1 + Math.E)) < 1e-6);
  assert.deepEqual([...out.f32('t').data], [1, 3, 2, 4]);
  assert.deepEqual([...out.f32('mean', [1]).data], [2.5]);
  await s.release();
});

test('builder rejects duplicate names, foreign values and wrong initializer sizes', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1]);
  assert.throws(() => g.identity(x, 'x'), /defined twice/);
  assert.throws(() => g.initFloat32('w', new Float32Array(3), [2, 2]), /needs 16 bytes, got 12/);
  const other = new GraphBuilder().input('y', 'float32', [1]);
  assert.throws(() => g.add(x, other), /does not belong/);
});

test('an unavailable device gives a BadInputError with a hint', async () => {
  const g = new GraphBuilder();
  g.output(g.identity(g.input('x', 'float32', [1]), 'y'));
  const bytes = g.build();
  try {
    const s = await Session.create(bytes, { device: 'cuda' });
    await s.release(); // this machine has a working CUDA provider
  } catch (e) {
    assert.ok(e instanceof BadInputError, String(e));
    assert.ok(e.hint && /--device cpu/.test(e.hint));
  }
});

test('BF16 and F32 raw initializers load with the right values', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [2]);
  const bf = new Uint16Array([0x3fc0, 0xc020]); // 1.5, -2.5 as bfloat16 (upper half of the f32 bits)
  const b = g.initializer('b', new Uint8Array(bf.buffer), 'BF16', [2]);
  const f = g.initializer('f', new Uint8Array(new Float32Array([10, 20]).buffer), 'F32', [2]);
  g.output(g.add(g.mul(x, b), f, 'y'));
  const s = await Session.create(g.build());
  const out = await s.run({ x: { data: new Float32Array([2, 4]), shape: [2] } });
  assert.deepEqual([...out.f32('y', [2]).data], [13, 10]);
  await s.release();
});

test('an external-data initializer is read by onnxruntime from its file at its offset', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imgtokens-ext-'));
  try {
    // A file with 5 bytes of something else, then F16 [2, 2] weights: as a tensor sits inside a safetensors file.
    const bits = new Uint16Array([1, 2, 3, -4].map(f16Bits));
    await writeFile(join(dir, 'w.bin'), Buffer.concat([Buffer.from('head!'), Buffer.from(bits.buffer)]));
    const g = new GraphBuilder({ name: 'ext' });
    const x = g.input('x', 'float32', [1, 2]);
    const w = g.initializer('w', { location: 'w.bin', offset: 5, length: 8 }, 'F16', [2, 2]);
    g.output(g.matmul(x, w, 'y'));
    assert.equal(g.stats().initializerBytes, 0); // the model bytes do not hold the weights
    const s = await Session.create(g.build(), { externalDataDir: dir });
    const out = await s.run({ x: { data: new Float32Array([1, 10]), shape: [1, 2] } });
    assert.deepEqual([...out.f32('y', [1, 2]).data], [31, -38]); // [1, 10] x [[1, 2], [3, -4]]
    await s.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
