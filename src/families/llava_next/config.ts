/**
 * LlavaNextConfig parsing with HF's defaults (configuration_llava_next.py at transformers v4.45.1,
 * e71a01a104dd663c730e494eb0b6467bb51df357): LlavaConfig's fields plus image_grid_pinpoints.
 */
import type { ConfigReader } from '../../config/reader.js';
import { CheckpointError } from '../../errors.js';
import { parseLlavaConfig, type LlavaConfig } from '../llava/config.js';

export interface LlavaNextConfig extends LlavaConfig {
  /** [height, width] pairs; LlavaNextConfig default [[336,672],[672,336],[672,672],[1008,336],[336,1008]]. */
  gridPinpoints: Array<[number, number]>;
}

export const LLAVA_NEXT_DEFAULT_PINPOINTS: Array<[number, number]> = [
  [336, 672],
  [672, 336],
  [672, 672],
  [1008, 336],
  [336, 1008],
];

export function parseLlavaNextConfig(r: ConfigReader): LlavaNextConfig {
  const base = parseLlavaConfig(r);
  const raw = r.raw['image_grid_pinpoints'];
  let gridPinpoints = LLAVA_NEXT_DEFAULT_PINPOINTS;
  if (raw !== undefined && raw !== null) {
    if (
      !Array.isArray(raw) ||
      !raw.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0))
    ) {
      throw new CheckpointError(
        `${r.where}: image_grid_pinpoints must be a list of [height, width] pairs, got ${JSON.stringify(raw)}`,
      );
    }
    gridPinpoints = raw as Array<[number, number]>;
  }
  return { ...base, gridPinpoints };
}
