/**
 * Image decoding: JPEG / PNG / WebP / GIF bytes or a file path -> 8-bit RGB, matching what the reference pipeline
 * feeds the image processor, `PIL.Image.open(path).convert('RGB')` with Pillow 9.4:
 *   - RGB / RGBA / LA / P (palette) / L (grey): alpha is DROPPED, not composited (Image.convert does no blending);
 *     palette indices become their palette colours; grey is replicated to three channels.
 *   - 16-bit RGB(A) and grey+alpha PNGs: Pillow unpacks them with the "RGB;16B"/"RGBA;16B"/"LA;16B" raw modes, which keep the
 *     HIGH byte of each sample (v >> 8, truncation, no rounding).
 *   - 16-bit grey PNGs: Pillow 9.4 opens them as mode "I" (32-bit int) and convert('RGB') CLIPS each value to 0..255
 *     (Convert.c i2rgb), so anything brighter than 255/65535 becomes white. We reproduce that, because it is what the model
 *     sees, and say so in a notice.
 *   - CMYK JPEGs: Pillow's naive cmyk2rgb formula (Convert.c), no ICC colour management. Not verified against Pillow output.
 *   - Embedded ICC profiles are ignored (Pillow's convert does not apply them).
 *   - GIF / animated WebP: the first frame. Fully transparent GIF pixels come out black from libvips, where Pillow would
 *     give the palette colour of the transparent index; this is the one known difference.
 *   - EXIF orientation is ignored by default, as `Image.open` + the image processor do; `exifTranspose` rotates/flips first,
 *     as a photo viewer (and PIL.ImageOps.exif_transpose) would. An ignored tag (!= 1) is reported in the result.
 * The JPEG decoder in sharp (mozjpeg, libjpeg-turbo based, ISLOW DCT, fancy upsampling) was checked bit-exact against
 * Pillow 9.4 + libjpeg-turbo on the fixture JPEG.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { BadInputError, NotFoundError, TooLargeError } from '../errors.js';
import { readSmallFile } from '../source/small-file.js';
import type { ImageInput, RgbImage } from '../types.js';

export const SUPPORTED_FORMATS = ['jpeg', 'png', 'webp', 'gif'] as const;
export type ImageFormat = (typeof SUPPORTED_FORMATS)[number];
const SUPPORTED_TEXT = 'JPEG, PNG, WebP or GIF';

/** Pillow's Image.MAX_IMAGE_PIXELS (PIL/Image.py): the decompression-bomb warning threshold. */
export const DEFAULT_MAX_PIXELS = 89_478_485;
/** Longest side accepted (read from the header before decoding): a 1-pixel-wide strip passes any pixel count. */
export const DEFAULT_MAX_SIDE = 32_768;
/**
 * Largest long side / short side. The processors resize the short side up (CLIP's shortest_edge 336 turns a
 * 1x15M strip into 336x5e9), so the aspect ratio, not the pixel count, bounds their cost. 200 is
 * transformers' own limit for Qwen2-VL (qwen2_vl/image_processing_qwen2_vl.py smart_resize, MAX_RATIO, 4.45.1).
 */
export const DEFAULT_MAX_ASPECT = 200;

export interface DecodeOptions {
  /** Apply the EXIF orientation before anything else (default false: ignore it, as transformers does). */
  exifTranspose?: boolean;
  /** Refuse images with more pixels than this (decompression bombs); default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
  /** Refuse images with a side longer than this; default DEFAULT_MAX_SIDE. */
  maxSide?: number;
  /** Refuse images whose long side is more than this many times the short one; default DEFAULT_MAX_ASPECT. */
  maxAspect?: number;
  /** How to name the input in messages (default: the path, or "image"). */
  name?: string;
}

export interface DecodedImage {
  image: RgbImage;
  /** null when the input was already decoded RGB. */
  format: ImageFormat | null;
  /** The source's pixel mode in Pillow's terms: RGB, RGBA, P, L, LA, RGB;16, RGBA;16, I;16, LA;16, CMYK. */
  sourceMode: string;
  /** The EXIF orientation tag (1 when absent). */
  orientation: number;
  /** True when orientation != 1 and it was not applied. */
  orientationIgnored: boolean;
  /** True when exifTranspose rotated or flipped the pixels. */
  transposed: boolean;
  /** Human-readable notes about lossy or surprising conversions (one line each). */
  notices: string[];
}

function isRgbImage(x: ImageInput): x is RgbImage {
  return typeof x === 'object' && !(x instanceof Uint8Array) && 'data' in x && 'width' in x;
}

/** Accepts any ImageInput; decoded RGB passes through after a size check. */
export async function loadImage(input: ImageInput, opts: DecodeOptions = {}): Promise<DecodedImage> {
  if (isRgbImage(input)) {
    const { width, height, data } = input;
    const name = opts.name ?? 'image';
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new BadInputError(`${name}: invalid RGB image size ${width}x${height}`);
    }
    if (data.length !== width * height * 3) {
      throw new BadInputError(
        `${name}: RGB data has ${data.length} bytes, expected ${width}x${height}x3 = ${width * height * 3}`,
      );
    }
    checkPixels(name, width, height, opts);
    return {
      image: input,
      format: null,
      sourceMode: 'RGB',
      orientation: 1,
      orientationIgnored: false,
      transposed: false,
      notices: [],
    };
  }
  return decodeImage(input, opts);
}

/** Decodes encoded bytes or a file path into RGB as Pillow's `Image.open(...).convert('RGB')` would. */
export async function decodeImage(
  input: string | Uint8Array,
  opts: DecodeOptions = {},
): Promise<DecodedImage> {
  const name = opts.name ?? (typeof input === 'string' ? input : 'image');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const bytes = typeof input === 'string' ? await readImageFile(input, name) : input;
  if (bytes.length === 0)
    throw new BadInputError(`${name}: the image is empty (0 bytes)`, { hint: hintFormats });

  let meta: Metadata;
  try {
    // limitInputPixels: false so that an image over sharp's own limit is reported by checkPixels as too
    // large (with its size), not as unreadable; only the header is read here.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    throw new BadInputError(`${name}: not a readable image; supported formats are ${SUPPORTED_TEXT}`, {
      hint: hintFormats,
      cause,
    });
  }
  const format = meta.format as string;
  if (!(SUPPORTED_FORMATS as readonly string[]).includes(format)) {
    throw new BadInputError(
      `${name}: ${format.toUpperCase()} images are not supported; use ${SUPPORTED_TEXT}`,
      {
        hint: hintFormats,
      },
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  checkPixels(name, width, height, opts);

  const orientation = meta.orientation ?? 1;
  const transpose = opts.exifTranspose === true && orientation !== 1;
  const notices: string[] = [];
  if (orientation !== 1 && !transpose) {
    notices.push(
      `${name}: EXIF orientation ${orientation} ignored, as transformers does; the model sees the stored pixels (use exifTranspose to rotate first)`,
    );
  }

  const base = (): Sharp => {
    const s = sharp(bytes, {
      ignoreIcc: true,
      limitInputPixels: Number.isFinite(maxPixels) ? Math.max(1, Math.floor(maxPixels)) : false,
      pages: 1,
      page: 0,
    });
    return transpose ? s.autoOrient() : s;
  };

  try {
    const is16 = meta.depth === 'ushort';
    if (is16 && meta.space === 'grey16') {
      const { data, info } = await base()
        .toColourspace('grey16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const v = u16view(data);
      const hasAlpha = info.channels === 2;
      const out = new Uint8Array(info.width * info.height * 3);
      let clipped = false;
      for (let i = 0, p = 0; p < out.length; i += info.channels, p += 3) {
        // Pillow: "LA;16B" keeps the high byte; "I" -> RGB (i2rgb) clips to 0..255.
        let g: number;
        if (hasAlpha) g = v[i] >> 8;
        else {
          g = v[i] > 255 ? 255 : v[i];
          if (v[i] > 255) clipped = true;
        }
        out[p] = out[p + 1] = out[p + 2] = g;
      }
      if (!hasAlpha && clipped) {
        notices.push(
          `${name}: 16-bit greyscale PNG; like Pillow 9.4 (mode "I" -> RGB) values above 255 are clipped to white, so the model sees a washed-out image`,
        );
      }
      return done(out, info.width, info.height, hasAlpha ? 'LA;16' : 'I;16');
    }
    if (is16) {
      const { data, info } = await base()
        .toColourspace('rgb16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const v = u16view(data);
      const out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0, p = 0; p < out.length; i += info.channels, p += 3) {
        out[p] = v[i] >> 8; // "RGB;16B": high byte
        out[p + 1] = v[i + 1] >> 8;
        out[p + 2] = v[i + 2] >> 8;
      }
      return done(out, info.width, info.height, info.channels === 4 ? 'RGBA;16' : 'RGB;16');
    }
    if (meta.space === 'cmyk') {
      const { data, info } = await base().toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      const out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0, p = 0; p < out.length; i += info.channels, p += 3) {
        // Pillow Convert.c cmyk2rgb: nk = 255 - k; out = CLIP8(nk - MULDIV255(c, nk)).
        const nk = 255 - data[i + 3];
        out[p] = clip8(nk - muldiv255(data[i], nk));
        out[p + 1] = clip8(nk - muldiv255(data[i + 1], nk));
        out[p + 2] = clip8(nk - muldiv255(data[i + 2], nk));
      }
      notices.push(`${name}: CMYK image converted with Pillow's formula (no colour management)`);
      return done(out, info.width, info.height, 'CMYK');
    }
    if (meta.space === 'b-w') {
      const { data, info } = await base().toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
      const out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0, p = 0; p < out.length; i += info.channels, p += 3) {
        out[p] = out[p + 1] = out[p + 2] = data[i];
      }
      return done(out, info.width, info.height, meta.hasAlpha ? 'LA' : 'L');
    }
    const { data, info } = await base().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    let out: Uint8Array;
    let transparent = false;
    if (info.channels === 3) {
      out = new Uint8Array(data.buffer, data.byteOffset, data.length);
    } else {
      out = new Uint8Array(info.width * info.height * 3);
      for (let i = 0, p = 0; p < out.length; i += info.channels, p += 3) {
        out[p] = data[i];
        out[p + 1] = data[i + 1];
        out[p + 2] = data[i + 2];
        if (info.channels === 4 && data[i + 3] === 0) transparent = true;
      }
    }
    const mode = meta.isPalette ? 'P' : meta.hasAlpha ? 'RGBA' : 'RGB';
    if (format === 'gif' && transparent) {
      notices.push(
        `${name}: transparent GIF pixels are decoded as black (Pillow would use the palette colour)`,
      );
    }
    return done(out, info.width, info.height, mode);
  } catch (cause) {
    if (cause instanceof BadInputError) throw cause;
    const msg = cause instanceof Error ? cause.message : String(cause);
    if (/pixel limit/i.test(msg)) {
      throw new TooLargeError(`${name}: the image exceeds the limit of ${maxPixels} pixels`, { cause });
    }
    throw new BadInputError(
      `${name}: the ${format.toUpperCase()} data could not be decoded (${msg.trim()})`,
      {
        hint: 'the file may be truncated or corrupt; re-save it as PNG or JPEG',
        cause,
      },
    );
  }

  function done(data: Uint8Array, w: number, h: number, sourceMode: string): DecodedImage {
    return {
      image: { width: w, height: h, data },
      format: format as ImageFormat,
      sourceMode,
      orientation,
      orientationIgnored: orientation !== 1 && !transpose,
      transposed: transpose,
      notices,
    };
  }
}

/** Largest image file read from a path (a 90-megapixel PNG is at most about 270 MB). */
export const MAX_IMAGE_FILE_BYTES = 512 << 20;

const hintFormats = `imgtokens reads ${SUPPORTED_TEXT} files (animated GIF/WebP: the first frame)`;

async function readImageFile(path: string, name: string): Promise<Uint8Array> {
  // Only a regular file, at most MAX_IMAGE_FILE_BYTES (no FIFO hangs, no /dev/zero).
  const bytes = await readSmallFile(path, { maxBytes: MAX_IMAGE_FILE_BYTES, kind: 'input' });
  if (bytes === null) throw new NotFoundError(`${name}: no such file`);
  return bytes;
}

/** Refuses an image by its header size: pixel count, longest side and aspect ratio (all before decoding). */
export function checkPixels(
  name: string,
  width: number,
  height: number,
  limits: Pick<DecodeOptions, 'maxPixels' | 'maxSide' | 'maxAspect'> = {},
): void {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxSide = limits.maxSide ?? DEFAULT_MAX_SIDE;
  const maxAspect = limits.maxAspect ?? DEFAULT_MAX_ASPECT;
  if (width <= 0 || height <= 0)
    throw new BadInputError(`${name}: the image has no pixels (${width}x${height})`);
  if (width * height > maxPixels) {
    throw new TooLargeError(
      `${name}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels} pixels`,
      { hint: 'downscale the image first, or raise the maxPixels limit if you trust the file' },
    );
  }
  if (Math.max(width, height) > maxSide) {
    throw new TooLargeError(
      `${name}: ${width}x${height} has a side longer than the limit of ${maxSide} pixels`,
      { hint: 'downscale or crop the image first' },
    );
  }
  const aspect = Math.max(width, height) / Math.min(width, height);
  if (aspect > maxAspect) {
    throw new TooLargeError(
      `${name}: ${width}x${height} has an aspect ratio of ${Math.round(aspect)}:1, over the limit of ${maxAspect}:1`,
      { hint: 'crop the image to a less extreme shape first' },
    );
  }
}

function u16view(buf: Buffer): Uint16Array {
  // sharp returns native-endian 16-bit samples; copy when the Buffer is not 2-byte aligned.
  if (buf.byteOffset % 2 === 0) return new Uint16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  return new Uint16Array(new Uint8Array(buf).buffer);
}

function muldiv255(a: number, b: number): number {
  const t = a * b + 128; // Pillow's MULDIV255
  return ((t >> 8) + t) >> 8;
}

function clip8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : v;
}
