// runVision: crops run a group at a time and their outputs join in crop order, with progress per group; a real
// 5-crop checkpoint (tiny LLaVA-NeXT) gives the same crop_features split as in one run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../model.js';
import { SessionOutputs, type Feeds, type NamedTensor, type Session } from '../runtime/session.js';
import type { ProgressEvent } from '../progress.js';
import { runVision } from './run.js';
import { FEATURES_OUTPUT, PIXEL_INPUT, type VisionInputs } from './types.js';

/** A stand-in session: crop_features [c, 2, 1] = each crop's first and last pixel; records the batch sizes. */
function fakeSession(axis: number): { session: Session; batches: number[] } {
  const batches: number[] = [];
  const session = {
    run: (feeds: Feeds): Promise<SessionOutputs> => {
      const px = feeds[PIXEL_INPUT];
      const c = px.shape[axis];
      batches.push(c);
      const per = px.data.length / c;
      const out = new Float32Array(c * 2);
      for (let i = 0; i < c; i++) {
        out[2 * i] = Number(px.data[i * per]);
        out[2 * i + 1] = Number(px.data[i * per + per - 1]);
      }
      const flat: NamedTensor = { data: out.map((v) => -v), shape: [c * 2, 1] }; // a [crops*tokens, hidden] output
      return Promise.resolve(
        new SessionOutputs(
          new Map([
            [FEATURES_OUTPUT, { data: out, shape: [c, 2, 1] }],
            ['flat', flat],
          ]),
        ),
      );
    },
  } as unknown as Session;
  return { session, batches };
}

function inputs(crops: number, axis: number): VisionInputs {
  const per = 3 * 4;
  const shape = axis === 0 ? [crops, 3, 2, 2] : [1, crops, 3, 2, 2];
  return {
    feeds: { [PIXEL_INPUT]: { data: Float32Array.from({ length: crops * per }, (_, i) => i), shape } },
    cropShape: [crops, 2],
    cropAxis: axis,
  };
}

test('runVision: one crop a run, outputs joined in crop order, progress per crop', async () => {
  for (const axis of [0, 1]) {
    const { session, batches } = fakeSession(axis);
    const events: ProgressEvent[] = [];
    const out = await runVision(session, inputs(5, axis), {
      where: 't',
      task: 'vision',
      onProgress: (e) => events.push(e),
    });
    assert.deepEqual(batches, [1, 1, 1, 1, 1]);
    const f = out.f32(FEATURES_OUTPUT, [5, 2, 1]).data;
    assert.deepEqual([...f], [0, 11, 12, 23, 24, 35, 36, 47, 48, 59]);
    assert.deepEqual(
      out.f32('flat', [10, 1]).data,
      f.map((v) => -v),
    );
    assert.deepEqual(
      events.map((e) => (e.status === 'progress' ? e.done : -1)),
      [1, 2, 3, 4, 5],
    );
  }
  const { session, batches } = fakeSession(0);
  await runVision(session, inputs(5, 0), { where: 't', perRun: 2 });
  assert.deepEqual(batches, [2, 2, 1]);
});

test('runVision: one run when the crops are not independent or fit in one run', async () => {
  const { session, batches } = fakeSession(0);
  const { cropAxis: _, ...joined } = inputs(4, 0);
  await runVision(session, joined, { where: 't' });
  await runVision(session, inputs(1, 0), { where: 't' });
  assert.deepEqual(batches, [4, 1]);
  const bad = inputs(3, 0);
  bad.cropShape = [4, 2]; // pixel_values holds 3
  await assert.rejects(runVision(session, bad, { where: 't' }), /should hold 4 crops/);
});

test('runVision on tiny LLaVA-NeXT: 5 crops split as in one run', async () => {
  const m = await loadModel('test/fixtures/llava/tiny-llava-next', { sessionCache: false });
  try {
    const prep = await m.prepare('test/fixtures/llava/images/shapes_120x80.png');
    const vi = m.family.visionInputs(prep.pre);
    assert.ok(vi.cropShape[0] > 1, 'a multi-crop image');
    const session = (m as unknown as { vision: Session }).vision;
    const split = (await runVision(session, vi, { where: 't', perRun: 1 })).f32(FEATURES_OUTPUT).data;
    const whole = (await runVision(session, vi, { where: 't', perRun: 1000 })).f32(FEATURES_OUTPUT).data;
    assert.equal(split.length, whole.length);
    let maxDiff = 0;
    for (let i = 0; i < split.length; i++) maxDiff = Math.max(maxDiff, Math.abs(split[i] - whole[i]));
    assert.ok(maxDiff <= 1e-5, `max |split - whole| = ${maxDiff}`); // GEMM blocking may differ with the rows
  } finally {
    await m.close();
  }
});
