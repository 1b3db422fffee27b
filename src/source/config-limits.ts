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
/**
 * Most crops one anyres pinpoint may cut (each runs through the vision tower): LLaVA-OneVision's largest,
 * 2304x2304 at 384 px, is 6x6 = 36.
 */
export const MAX_GRID_CROPS = 100;

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
    // Qwen2-VL-style processors give their pixel budget as size.{shortest,longest}_edge (min/max pixels, e.g.
    // 3136 / 12845056): an object with both edges and a longest edge past any side reads as a budget.
    const o = v as Record<string, unknown>;
    const budget =
      typeof o['shortest_edge'] === 'number' &&
      typeof o['longest_edge'] === 'number' &&
      o['longest_edge'] > MAX_PROCESSOR_SIDE;
    for (const [k, x] of Object.entries(v)) {
      const at = path ? `${path}.${k}` : k;
      const asPixels = budget && (k === 'shortest_edge' || k === 'longest_edge');
      if (typeof x === 'number' && asPixels && x > MAX_PROCESSOR_PIXELS)
        throw tooLarge(where, at, x, MAX_PROCESSOR_PIXELS);
      if (typeof x === 'number' && !asPixels && SIDE_KEYS.has(k) && x > MAX_PROCESSOR_SIDE)
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

/** The crop side an anyres processor cuts with: crop_size, else size (as transformers' LlavaNext processor). */
function cropSide(pre: Record<string, unknown> | null): number | undefined {
  const pick = (v: unknown): number | undefined => {
    if (typeof v === 'number') return v;
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    for (const k of ['height', 'shortest_edge', 'width']) if (typeof o[k] === 'number') return o[k] as number;
    return undefined;
  };
  return pick(pre?.crop_size) ?? pick(pre?.size);
}

/**
 * Refuses an `image_grid_pinpoints` entry (from the preprocessor, else config.json) that would cut more than
 * MAX_GRID_CROPS crops: [[2000, 2000]] at 32 px is 63x63 = 3969 vision-tower runs and gigabytes of pixels.
 */
export function checkAnyresGrid(
  config: Record<string, unknown>,
  preprocessor: Record<string, unknown> | null,
  where: string,
): void {
  const side = cropSide(preprocessor);
  const pins = preprocessor?.image_grid_pinpoints ?? config.image_grid_pinpoints;
  if (!side || side <= 0 || !Array.isArray(pins)) return;
  for (const p of pins) {
    if (!Array.isArray(p) || typeof p[0] !== 'number' || typeof p[1] !== 'number') continue;
    const rows = Math.ceil(p[0] / side);
    const cols = Math.ceil(p[1] / side);
    if (rows * cols > MAX_GRID_CROPS) {
      throw new TooLargeError(
        `${where}: image_grid_pinpoints entry [${p[0]}, ${p[1]}] cuts ${rows}x${cols} = ${rows * cols} crops of ${side} px, over the limit of ${MAX_GRID_CROPS}`,
        {
          hint: 'pinpoints are multiples of the crop size, a few crops per side (LLaVA-NeXT uses up to 2x2)',
        },
      );
    }
  }
}
