/**
 * A least-recently-used cache of image features keyed by the image's content hash, bounded in bytes, so that
 * re-running an image with another lens method or k skips the vision tower. Map iteration order is insertion
 * order, so re-inserting on a hit makes the first key the least recently used.
 */
import { createHash } from 'node:crypto';
import type { ImageFeatures } from '../types.js';

/** sha256 of the image bytes plus anything that changes the features (e.g. EXIF handling). */
export function imageKey(bytes: Uint8Array, variant = ''): string {
  return createHash('sha256').update(bytes).update(`\0${variant}`).digest('hex');
}

/** Approximate resident size of one entry: the typed arrays (decoded image included) plus a rough per-token cost for the layout. */
export function featuresBytes(f: ImageFeatures): number {
  const arrays =
    f.pixelValues.byteLength +
    f.cropFeatures.byteLength +
    f.features.byteLength +
    (f.rgb?.data.byteLength ?? 0);
  return arrays + f.layout.tokens.length * 160 + 1024;
}

export class FeatureCache {
  private readonly entries = new Map<string, { value: ImageFeatures; bytes: number }>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): ImageFeatures | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Stores `value` unless it alone is larger than the whole cache; evicts least recently used entries. */
  set(key: string, value: ImageFeatures): void {
    const bytes = featuresBytes(value);
    const old = this.entries.get(key);
    if (old) {
      this.used -= old.bytes;
      this.entries.delete(key);
    }
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, bytes });
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(k);
      this.used -= e.bytes;
    }
  }

  get size(): number {
    return this.entries.size;
  }
  get bytes(): number {
    return this.used;
  }
}
