/**
 * Range checks on the image sizes a model's config.json / preprocessor_config.json ask for, done when the files
 * are read, before any image is processed: a `shortest_edge` of 100000 or an `image_grid_pinpoints` entry of
 * [100000, 100000] would otherwise make the first preprocess allocate gigabytes (or fail with "Invalid typed
 * array length"). The keys are the Hugging Face image processors' common size fields; the ceiling is far above
 * every released checkpoint (LLaVA-OneVision's largest pinpoint is 2304, Qwen2-VL's max_pixels about 3584²).
 */
import { TooLargeError } from '../errors.js';

/** Largest side any processor size field may ask for. */
export const MAX_PROCESSOR_SIDE = 8192;
/** Largest pixel budget (max_pixels and the like). */
export const MAX_PROCESSOR_PIXELS = MAX_PROCESSOR_SIDE * MAX_PROCESSOR_SIDE;
/** Most grid pinpoints a config may list. */
export const MAX_PINPOINTS = 256;

const SIDE_KEYS = new Set([
  'shortest_edge',
  'longest_edge',
  'height',
  'width',
  'image_size',
  'crop_size',
  'size',
]);
const PIXEL_KEYS = new Set(['max_pixels', 'min_pixels']);

function tooLarge(where: string, path: string, value: unknown, limit: number): TooLargeError {
  return new TooLargeError(
    `${where}: ${path} = ${JSON.stringify(value)?.slice(0, 60)} is over the limit of ${limit}`,
    {
      hint: 'the image processor settings are out of range; fix them (released checkpoints stay far below)',
    },
  );
}

/** Throws TooLargeError naming the field when a size field of `json` is out of range. Iterative, depth-bounded. */
export function checkProcessorSizes(json: Record<string, unknown>, where: string): void {
  const stack: Array<[unknown, string, number]> = [[json, '', 0]];
  while (stack.length > 0) {
    const [v, path, depth] = stack.pop()!;
    if (depth > 8 || typeof v !== 'object' || v === null) continue;
    for (const [k, x] of Object.entries(v)) {
      const at = path ? `${path}.${k}` : k;
      if (typeof x === 'number' && SIDE_KEYS.has(k) && x > MAX_PROCESSOR_SIDE)
        throw tooLarge(where, at, x, MAX_PROCESSOR_SIDE);
      if (typeof x === 'number' && PIXEL_KEYS.has(k) && x > MAX_PROCESSOR_PIXELS)
        throw tooLarge(where, at, x, MAX_PROCESSOR_PIXELS);
      if (k === 'image_grid_pinpoints' && Array.isArray(x)) {
        if (x.length > MAX_PINPOINTS)
          throw tooLarge(where, `${at} (${x.length} entries)`, x.length, MAX_PINPOINTS);
        for (const p of x) {
          if (Array.isArray(p) && p.some((d) => typeof d === 'number' && d > MAX_PROCESSOR_SIDE))
            throw tooLarge(where, at, p, MAX_PROCESSOR_SIDE);
        }
      }
      if (typeof x === 'object' && x !== null) stack.push([x, at, depth + 1]);
    }
  }
}
