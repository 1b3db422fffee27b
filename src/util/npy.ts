/** Minimal NumPy .npy (v1.0/v2.0) reader and float32/int64 writer, for tensor dumps and golden tests. */
import { readFileSync, writeFileSync } from 'node:fs';

export type NpyDtype = '<f4' | '<f8' | '<i8' | '<i4' | '|u1' | '<f2';
export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

export function parseNpy(buf: Uint8Array): NpyArray {
  const magic = String.fromCharCode(...buf.subarray(1, 6));
  if (buf[0] !== 0x93 || magic !== 'NUMPY') throw new Error('not a .npy file');
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(buf.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] as NpyDtype | undefined;
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  if (!descr) throw new Error(`unsupported .npy header: ${header}`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const start = headerStart + headerLen;
  const body = Uint8Array.prototype.slice.call(buf, start); // a real copy (Buffer#slice is a view), aligned for typed arrays
  const ab = body.buffer;
  let data: NpyArray['data'];
  switch (descr) {
    case '<f4':
      data = new Float32Array(ab, 0, body.byteLength / 4);
      break;
    case '<f8':
      data = new Float64Array(ab, 0, body.byteLength / 8);
      break;
    case '<i8':
      data = new BigInt64Array(ab, 0, body.byteLength / 8);
      break;
    case '<i4':
      data = new Int32Array(ab, 0, body.byteLength / 4);
      break;
    case '|u1':
      data = new Uint8Array(ab, 0, body.byteLength);
      break;
    case '<f2':
      data = new Uint16Array(ab, 0, body.byteLength / 2);
      break;
    default:
      throw new Error(`unsupported .npy dtype ${String(descr)}`);
  }
  if (fortran && shape.length > 1) data = fortranToC(data, shape);
  return { dtype: descr, shape, data };
}

/** Reorders a column-major (Fortran) array into row-major (C) order. */
function fortranToC<T extends NpyArray['data']>(src: T, shape: number[]): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const n = shape.length;
  const idx = new Array<number>(n).fill(0);
  // Walk C order; the Fortran offset of index (i0..in-1) is sum(i_k * prod(shape[0..k-1])).
  for (let c = 0; c < src.length; c++) {
    let f = 0;
    let stride = 1;
    for (let k = 0; k < n; k++) {
      f += idx[k] * stride;
      stride *= shape[k];
    }
    out[c] = src[f];
    for (let k = n - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path));
}

export function encodeNpy(
  data: Float32Array | BigInt64Array | Uint8Array,
  shape: readonly number[],
): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof BigInt64Array ? '<i8' : '|u1';
  const shapeTxt = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeTxt}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function writeNpy(
  path: string,
  data: Float32Array | BigInt64Array | Uint8Array,
  shape: readonly number[],
): void {
  writeFileSync(path, encodeNpy(data, shape));
}
