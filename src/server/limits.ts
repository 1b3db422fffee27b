/**
 * Upload checks run before any decoding: the byte size, the format sniffed from magic bytes (never the
 * client's Content-Type), and the pixel count read from the image header (sharp reads only the header for
 * metadata), so a small file that claims 50000x50000 pixels is refused before it can be decompressed.
 */
import sharp from 'sharp';
import { BadInputError, TooLargeError } from '../errors.js';
import { DEFAULT_MAX_ASPECT, DEFAULT_MAX_SIDE } from '../image/decode.js';

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp';

export interface ImageLimits {
  /** Largest accepted upload (or fetched URL body), in bytes. */
  maxUploadBytes: number;
  /** Largest accepted width x height, read from the header before decoding. */
  maxPixels: number;
}

export interface CheckedImage {
  format: ImageFormat;
  width: number;
  height: number;
}

function startsWith(bytes: Uint8Array, sig: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + sig.length) return false;
  return sig.every((b, i) => bytes[offset + i] === b);
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** The image format from the file's first bytes, or null when it is none that imgtokens decodes. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  return null;
}

export function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(n % (1 << 10) === 0 ? 0 : 1)} KiB`;
  return `${n} bytes`;
}

export function checkUploadSize(size: number, limits: ImageLimits): void {
  if (size > limits.maxUploadBytes) {
    throw new TooLargeError(
      `the image is ${formatBytes(size)}, over this server's upload limit of ${formatBytes(limits.maxUploadBytes)}`,
      { hint: 'shrink or re-encode the image, or start the server with a larger --max-upload' },
    );
  }
}

/** Size, format and header dimensions; throws BadInputError or TooLargeError with what to do. */
export async function checkImage(bytes: Uint8Array, limits: ImageLimits): Promise<CheckedImage> {
  checkUploadSize(bytes.byteLength, limits);
  if (bytes.byteLength === 0) {
    throw new BadInputError('the upload is empty', { hint: 'send the image in the multipart field "image"' });
  }
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw new BadInputError('the upload is not a JPEG, PNG, GIF or WebP image (checked by its content)', {
      hint: 'send an image file; the Content-Type header and file name are not trusted',
    });
  }
  let width: number | undefined;
  let height: number | undefined;
  try {
    // limitInputPixels: false so that sharp reports the header's size instead of refusing; we refuse below.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    width = meta.width;
    height = meta.height;
  } catch (cause) {
    throw new BadInputError(`the ${format.toUpperCase()} image header could not be read`, {
      hint: 'the file may be truncated or corrupt; re-save it and try again',
      cause,
    });
  }
  if (!width || !height) {
    throw new BadInputError(`the ${format.toUpperCase()} image has no width or height in its header`, {
      hint: 'the file may be corrupt; re-save it and try again',
    });
  }
  if (width * height > limits.maxPixels) {
    throw new TooLargeError(
      `the image is ${width}x${height} = ${(width * height).toLocaleString('en')} pixels, over this server's limit of ${limits.maxPixels.toLocaleString('en')} pixels`,
      { hint: 'resize the image, or start the server with a larger --max-pixels' },
    );
  }
  const side = Math.max(width, height);
  if (side > DEFAULT_MAX_SIDE || side / Math.min(width, height) > DEFAULT_MAX_ASPECT) {
    throw new TooLargeError(
      `the image is ${width}x${height}: its sides must be at most ${DEFAULT_MAX_SIDE} pixels and at most ${DEFAULT_MAX_ASPECT} times each other`,
      { hint: 'crop or resize the image to a less extreme shape' },
    );
  }
  return { format, width, height };
}
