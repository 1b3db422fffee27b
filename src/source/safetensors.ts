/**
 * Safetensors header parsing and validation, and dtype conversion to float32.
 * Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e]}},
 * optional "__metadata__", then the data buffer; offsets are relative to the end of the header.
 * See https://github.com/huggingface/safetensors (README, "Format").
 */
import { CheckpointError } from '../errors.js';
import { DTYPE_BYTES, type DType, type RawTensor, type TensorInfo } from './types.js';

/** Upper bound for a header: the format itself caps it at 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsHeader {
  headerBytes: number; // N
  dataStart: number; // 8 + N
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

const KNOWN_UNSUPPORTED = new Set([
  'F64',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
  'F8_E4M3',
  'F8_E5M2',
  'U16',
  'U32',
  'U64',
]);

/** Reads N from the first 8 bytes, checking it against the file size when known. */
export function parseHeaderLength(first8: Uint8Array, file: string, fileSize?: number): number {
  if (first8.byteLength < 8) {
    throw new CheckpointError(
      `${file}: truncated safetensors file (${first8.byteLength} bytes, need at least 8)`,
      {
        hint: 'the download was probably interrupted; delete the file and fetch it again',
      },
    );
  }
  const n = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (n <= 0 || n > MAX_HEADER_BYTES) {
    throw new CheckpointError(`${file}: invalid safetensors header length ${n}`, {
      hint: 'this is not a safetensors file, or it is corrupted',
    });
  }
  if (fileSize !== undefined && 8 + n > fileSize) {
    throw new CheckpointError(
      `${file}: safetensors header length ${n} runs past the end of the file (${fileSize} bytes)`,
      { hint: 'the file is truncated; delete it and fetch it again' },
    );
  }
  return n;
}

/**
 * The first key that appears twice among the top-level keys of a JSON object text (escapes decoded, so "a"
 * and "\u0061" are the same key), or undefined. One iterative pass; the text is assumed to be valid JSON.
 * JSON.parse keeps the last copy silently; the safetensors format forbids duplicates (its Rust parser, serde,
 * refuses them), so a header with two entries for one tensor is refused.
 */
export function duplicateTopLevelKey(text: string): string | undefined {
  const keys = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      depth++;
      expectKey = depth === 1 && ch === '{';
    } else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) expectKey = true;
  }
  return undefined;
}

/**
 * Parses and validates the JSON header. `fileSize` (when known) bounds every tensor's data range.
 * Checks: valid JSON object, supported dtype, integer non-negative shape, byte length = numel * dtype size,
 * offsets inside the data buffer, no two tensors overlapping.
 */
export function parseHeader(json: Uint8Array, file: string, fileSize?: number): SafetensorsHeader {
  const headerBytes = json.byteLength;
  const dataStart = 8 + headerBytes;
  let obj: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    obj = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: safetensors header is not valid JSON`, {
      cause: e,
      hint: 'the file is corrupted; fetch it again',
    });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new CheckpointError(`${file}: safetensors header is not a JSON object`);
  }
  const dup = duplicateTopLevelKey(text);
  if (dup !== undefined) {
    throw new CheckpointError(
      `${file}: safetensors header lists ${JSON.stringify(dup.slice(0, 200))} twice`,
      {
        hint: 'the file is corrupted or was written by a broken tool; export it again',
      },
    );
  }
  if (fileSize !== undefined && dataStart > fileSize) {
    throw new CheckpointError(
      `${file}: safetensors header length ${headerBytes} runs past the end of the file (${fileSize} bytes)`,
      { hint: 'the file is truncated; delete it and fetch it again' },
    );
  }
  const dataSize = fileSize === undefined ? undefined : fileSize - dataStart;
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (
        typeof v !== 'object' ||
        v === null ||
        Array.isArray(v) ||
        !Object.values(v).every((x) => typeof x === 'string')
      )
        throw new CheckpointError(`${file}: safetensors __metadata__ must map strings to strings`);
      metadata = v as Record<string, string>;
      continue;
    }
    const entry = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== 'object' || entry === null)
      throw new CheckpointError(`${file}: tensor ${name}: header entry is not an object`);
    const dtype = entry.dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
      const what = typeof dtype === 'string' && KNOWN_UNSUPPORTED.has(dtype) ? 'unsupported' : 'unknown';
      throw new CheckpointError(`${file}: tensor ${name} has ${what} dtype ${JSON.stringify(dtype)}`, {
        hint: 'imgtokens reads F32, F16 and BF16 weights',
      });
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new CheckpointError(`${file}: tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
    }
    const off = entry.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isInteger(d) && d >= 0) ||
      off[1] < off[0]
    ) {
      throw new CheckpointError(`${file}: tensor ${name} has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [b, e] = off as [number, number];
    const expectedBytes = (shape as number[]).reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
    if (e - b !== expectedBytes) {
      throw new CheckpointError(
        `${file}: tensor ${name}: data_offsets [${b}, ${e}] hold ${e - b} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expectedBytes}`,
      );
    }
    if (dataSize !== undefined && e > dataSize) {
      throw new CheckpointError(
        `${file}: tensor ${name}: data_offsets [${b}, ${e}] run past the end of the file (data section is ${dataSize} bytes)`,
        { hint: 'the file is truncated; delete it and fetch it again' },
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], file, begin: dataStart + b, end: dataStart + e });
  }
  // Sort by begin, then end, so that an empty tensor sharing a start offset never looks like an overlap.
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new CheckpointError(
        `${file}: tensors ${sorted[i - 1].name} [${sorted[i - 1].begin - dataStart}, ${sorted[i - 1].end - dataStart}] and ${sorted[i].name} [${sorted[i].begin - dataStart}, ${sorted[i].end - dataStart}] overlap in the data section`,
      );
    }
  }
  return { headerBytes, dataStart, tensors, metadata };
}

// ---- dtype conversion (exact: F16 and BF16 are subsets of F32) ----

const f16Table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** Converts raw little-endian bytes of `dtype` to a new Float32Array. */
export function toFloat32(bytes: Uint8Array, dtype: DType): Float32Array {
  if (bytes.byteLength % DTYPE_BYTES[dtype] !== 0)
    throw new RangeError(`toFloat32: ${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (dtype === 'F32') {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const src = new Uint16Array(n);
  new Uint8Array(src.buffer).set(bytes);
  const out = new Float32Array(n);
  if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = f16Table[src[i]];
  } else {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u32[i] = src[i] << 16;
  }
  return out;
}

export function tensorToFloat32(t: RawTensor): Float32Array {
  return toFloat32(t.bytes, t.info.dtype);
}
