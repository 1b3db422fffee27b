/**
 * Runs a family's vision graph on one prepared image. Where the family says its crops are independent
 * (VisionInputs.cropAxis), they run a few at a time and the crop-major outputs are concatenated: the activations
 * are one crop's, not all of them at once, and onnxruntime's GEMMs are no slower at one crop's rows (2-core dev
 * machine, best of 8: [577x1024]x[1024x4096] at 282 GFLOP/s, [2885x1024]x[1024x4096] at 253; llava-v1.6's tower
 * over 5 crops within the noise either way, see docs/bench.md).
 */
import { CheckpointError } from '../errors.js';
import type { ProgressCallback } from '../progress.js';
import { SessionOutputs, type NamedTensor, type Session, type TensorData } from '../runtime/session.js';
import { PIXEL_INPUT, type VisionInputs } from './types.js';

/** Crops per vision run when the family allows splitting (see the file comment). */
export const VISION_CROPS_PER_RUN = 1;

type TypedCtor = new (n: number) => TensorData;

/** `t`'s crops [from, to) along `axis` (every axis before it of size 1, so the slice is contiguous). */
function sliceCrops(t: NamedTensor, axis: number, from: number, to: number, where: string): NamedTensor {
  if (t.shape.slice(0, axis).some((d) => d !== 1)) {
    throw new CheckpointError(
      `${where}: pixel_values ${JSON.stringify(t.shape)} has crops on axis ${axis} but a leading axis is not 1`,
    );
  }
  const per = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const shape = [...t.shape];
  shape[axis] = to - from;
  return { data: t.data.subarray(from * per, to * per) as TensorData, shape };
}

/** The pieces' outputs joined along axis 0 (each output is crop-major). */
function concatOutputs(parts: SessionOutputs[], where: string): SessionOutputs {
  const out = new Map<string, NamedTensor>();
  for (const name of parts[0].names()) {
    const pieces = parts.map((p) => p.get(name));
    const rest = JSON.stringify(pieces[0].shape.slice(1));
    if (pieces.some((p) => JSON.stringify(p.shape.slice(1)) !== rest)) {
      throw new CheckpointError(`${where}: vision output ${name} changes shape between crops`);
    }
    const total = pieces.reduce((a, p) => a + p.data.length, 0);
    const data = new (pieces[0].data.constructor as TypedCtor)(total);
    let at = 0;
    for (const p of pieces) {
      (data as Float32Array).set(p.data as Float32Array, at);
      at += p.data.length;
    }
    const shape = [pieces.reduce((a, p) => a + p.shape[0], 0), ...pieces[0].shape.slice(1)];
    out.set(name, { data, shape });
  }
  return new SessionOutputs(out);
}

/**
 * `session` over `inputs`: one run, or with `cropAxis` set and more than `perRun` crops, one run per group of
 * crops, reporting progress per group under `task`.
 */
export async function runVision(
  session: Session,
  inputs: VisionInputs,
  opts: { where: string; perRun?: number; task?: string; label?: string; onProgress?: ProgressCallback },
): Promise<SessionOutputs> {
  const axis = inputs.cropAxis;
  const crops = inputs.cropShape[0];
  const perRun = Math.max(1, opts.perRun ?? VISION_CROPS_PER_RUN);
  if (axis === undefined || crops <= perRun) return session.run(inputs.feeds);
  const pixels = inputs.feeds[PIXEL_INPUT];
  if (pixels.shape[axis] !== crops) {
    throw new CheckpointError(
      `${opts.where}: pixel_values ${JSON.stringify(pixels.shape)} should hold ${crops} crops on axis ${axis}`,
    );
  }
  const parts: SessionOutputs[] = [];
  for (let from = 0; from < crops; from += perRun) {
    const to = Math.min(crops, from + perRun);
    const feeds = { ...inputs.feeds, [PIXEL_INPUT]: sliceCrops(pixels, axis, from, to, opts.where) };
    parts.push(await session.run(feeds));
    if (opts.task) {
      opts.onProgress?.({
        status: 'progress',
        task: opts.task,
        label: opts.label ?? opts.task,
        done: to,
        total: crops,
        unit: 'items',
      });
    }
  }
  return concatOutputs(parts, opts.where);
}
