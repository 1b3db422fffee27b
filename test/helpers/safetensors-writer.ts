/**
 * A small safetensors writer for tests: builds well-formed files from named tensors, with hooks to make
 * them malformed on purpose (edit the header object, replace the header text, lie about its length).
 * Layout as in https://github.com/huggingface/safetensors (README, "Format"): 8-byte LE header length,
 * JSON header padded with spaces to a multiple of 8, then the tensors' bytes back to back in header order.
 */
import { writeFileSync } from 'node:fs';

export type WriterDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'U8';
const BYTES: Record<WriterDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, U8: 1 };

export interface WriterTensor {
  name: string;
  dtype: WriterDType;
  shape: number[];
  /** Raw little-endian bytes; when absent, a deterministic pattern of the right length is used. */
  data?: Uint8Array;
}

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export interface BuildOptions {
  /** `__metadata__`; `{format: "pt"}` unless given (null leaves it out). */
  metadata?: Record<string, string> | null;
  /** Edits the header object before it is serialised (to corrupt offsets, dtypes, shapes). */
  editHeader?: (header: Record<string, HeaderEntry | Record<string, string>>) => void;
  /** Replaces the JSON text entirely (e.g. invalid JSON). */
  headerText?: string;
  /** Writes this number as the header length instead of the real one. */
  declaredHeaderLength?: number | bigint;
}

/** A deterministic byte pattern seeded by the tensor name, so different tensors have different bytes. */
export function patternBytes(name: string, length: number): Uint8Array {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ i, 16777619) >>> 0;
    out[i] = h >>> 24;
  }
  return out;
}

/** Builds a safetensors file in memory. */
export function buildSafetensors(tensors: readonly WriterTensor[], opts: BuildOptions = {}): Uint8Array {
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (opts.metadata !== null) header.__metadata__ = opts.metadata ?? { format: 'pt' };
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1) * BYTES[t.dtype];
    const data = t.data ?? patternBytes(t.name, n);
    if (data.byteLength !== n) throw new Error(`writer: ${t.name} has ${data.byteLength} bytes, needs ${n}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    datas.push(data);
    offset += n;
  }
  opts.editHeader?.(header);
  let text = opts.headerText ?? JSON.stringify(header);
  while (Buffer.byteLength(text) % 8 !== 0) text += ' ';
  const json = Buffer.from(text);
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(opts.declaredHeaderLength ?? json.byteLength), true);
  out.set(json, 8);
  let p = 8 + json.byteLength;
  for (const d of datas) {
    out.set(d, p);
    p += d.byteLength;
  }
  return out;
}

export function writeSafetensors(
  path: string,
  tensors: readonly WriterTensor[],
  opts?: BuildOptions,
): Uint8Array {
  const bytes = buildSafetensors(tensors, opts);
  writeFileSync(path, bytes);
  return bytes;
}

/** Writes `model.safetensors.index.json` for the given tensor -> shard map. */
export function writeIndex(path: string, weightMap: Record<string, string>, totalSize = 0): void {
  writeFileSync(path, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }));
}

/** float32 -> bfloat16 bits with round-to-nearest-even (NaN kept quiet), as torch does. */
export function f32ToBf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Little-endian bytes of 16-bit values. */
export function u16Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(new Uint16Array(values).buffer);
}
