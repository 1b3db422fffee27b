// Decoder tests: fixture images against Pillow's decode (.rgb.npy), and Pillow's convert('RGB') rules for other modes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { BadInputError, NotFoundError, TooLargeError } from '../errors.js';
import { parseNpy } from '../util/npy.js';
import { decodeImage, loadImage } from './decode.js';

const IMAGES = 'test/fixtures/llava/images';
// parseNpy on a plain Uint8Array copy (readNpy's Buffer.slice is a view, so its typed arrays start at the header).
const npy = (p: string) => parseNpy(new Uint8Array(readFileSync(p)));

// ---- a minimal PNG writer, to control bit depth and colour type exactly
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** rows: the raw scanline bytes (without filter byte) for each row. */
function png(
  w: number,
  h: number,
  bitDepth: number,
  colorType: number,
  rows: Uint8Array[],
  extra: Buffer[] = [],
): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const raw = Buffer.concat(rows.flatMap((r) => [Buffer.from([0]), Buffer.from(r)]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
const be16 = (vals: number[]) => {
  const b = Buffer.alloc(vals.length * 2);
  vals.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
};

describe('decodeImage', () => {
  for (const f of ['gradient_37x23.png', 'checker_64x64.png', 'shapes_120x80.png', 'portrait_45x90.jpg']) {
    it(`${f} equals Pillow's decode bit for bit`, async () => {
      const d = await decodeImage(`${IMAGES}/${f}`);
      const ref = npy(`${IMAGES}/${f.replace(/\.\w+$/, '.rgb.npy')}`);
      assert.deepEqual([d.image.height, d.image.width, 3], ref.shape);
      assert.deepEqual(d.image.data, ref.data);
      assert.equal(d.sourceMode, 'RGB');
      assert.equal(d.orientationIgnored, false);
    });
  }

  it('RGBA drops alpha without compositing', async () => {
    const px = new Uint8Array([10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255]);
    const bytes = await sharp(px, { raw: { width: 3, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const d = await decodeImage(bytes);
    assert.equal(d.sourceMode, 'RGBA');
    assert.deepEqual([...d.image.data], [10, 20, 30, 200, 100, 50, 1, 2, 3]);
  });

  it('palette PNG gives the palette colours (transparency dropped)', async () => {
    const plte = chunk('PLTE', new Uint8Array([255, 0, 0, 0, 128, 255, 7, 8, 9]));
    const trns = chunk('tRNS', new Uint8Array([0, 255, 255]));
    const bytes = png(4, 1, 8, 3, [new Uint8Array([0, 1, 2, 0])], [plte, trns]);
    const d = await decodeImage(bytes);
    assert.equal(d.sourceMode, 'P');
    assert.deepEqual([...d.image.data], [255, 0, 0, 0, 128, 255, 7, 8, 9, 255, 0, 0]);
  });

  it('greyscale is replicated; grey+alpha drops alpha', async () => {
    const l = await decodeImage(png(3, 1, 8, 0, [new Uint8Array([0, 77, 255])]));
    assert.equal(l.sourceMode, 'L');
    assert.deepEqual([...l.image.data], [0, 0, 0, 77, 77, 77, 255, 255, 255]);
    const la = await decodeImage(png(2, 1, 8, 4, [new Uint8Array([90, 0, 200, 255])]));
    assert.equal(la.sourceMode, 'LA');
    assert.deepEqual([...la.image.data], [90, 90, 90, 200, 200, 200]);
  });

  it('2-bit greyscale scales like Pillow (x85)', async () => {
    // 4 pixels 0,1,2,3 packed MSB-first into one byte: 0b00011011
    const d = await decodeImage(png(4, 1, 2, 0, [new Uint8Array([0b00011011])]));
    assert.deepEqual([...d.image.data], [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
  });

  it('16-bit RGB keeps the high byte (Pillow "RGB;16B")', async () => {
    const d = await decodeImage(png(2, 1, 16, 2, [be16([0x12ff, 0x0080, 0xffff, 0x7f01, 0x00ff, 0x8000])]));
    assert.equal(d.sourceMode, 'RGB;16');
    assert.deepEqual([...d.image.data], [0x12, 0x00, 0xff, 0x7f, 0x00, 0x80]);
  });

  it('16-bit greyscale clips to 255 like Pillow 9.4 (mode "I") and says so', async () => {
    const d = await decodeImage(png(4, 1, 16, 0, [be16([0, 200, 256, 65535])]));
    assert.equal(d.sourceMode, 'I;16');
    assert.deepEqual([...d.image.data], [0, 0, 0, 200, 200, 200, 255, 255, 255, 255, 255, 255]);
    assert.ok(d.notices.some((n) => n.includes('clipped')));
  });

  it('GIF and WebP decode (first frame)', async () => {
    const px = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
    const raw = { raw: { width: 2, height: 2, channels: 3 as const } };
    const webp = await decodeImage(await sharp(px, raw).webp({ lossless: true }).toBuffer());
    assert.equal(webp.format, 'webp');
    assert.deepEqual([...webp.image.data], [...px]);
    const gif = await decodeImage(await sharp(px, raw).gif().toBuffer());
    assert.equal(gif.format, 'gif');
    assert.deepEqual([...gif.image.data], [...px]);
  });

  it('EXIF orientation is ignored by default and reported; exifTranspose applies it', async () => {
    const px = new Uint8Array([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]); // 3 wide, 2 high
    const bytes = await sharp(px, { raw: { width: 3, height: 2, channels: 3 } })
      .png()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const plain = await decodeImage(bytes, { name: 'photo.png' });
    assert.equal(plain.orientation, 6);
    assert.equal(plain.orientationIgnored, true);
    assert.equal(plain.image.width, 3);
    assert.deepEqual(plain.image.data, px);
    assert.match(plain.notices.join('\n'), /photo\.png: EXIF orientation 6 ignored/);
    const turned = await decodeImage(bytes, { exifTranspose: true });
    assert.equal(turned.transposed, true);
    assert.equal(turned.orientationIgnored, false);
    assert.deepEqual([turned.image.width, turned.image.height], [2, 3]);
    // orientation 6 = rotate 90° clockwise: the bottom-left pixel (4) becomes the top-left one.
    assert.deepEqual([...turned.image.data.subarray(0, 6)], [4, 4, 4, 1, 1, 1]);
  });

  it('non-image input fails with BadInputError naming the supported formats', async () => {
    const err = await decodeImage(new TextEncoder().encode('hello, this is not an image'), {
      name: 'notes.txt',
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof BadInputError);
    assert.equal(
      err.message,
      'notes.txt: not a readable image; supported formats are JPEG, PNG, WebP or GIF',
    );
    assert.ok(!err.message.includes('\n'));
  });

  it('a supported-by-sharp but unsupported format is refused by name', async () => {
    const tiff = await sharp(new Uint8Array(12), { raw: { width: 2, height: 2, channels: 3 } })
      .tiff()
      .toBuffer();
    await assert.rejects(decodeImage(tiff, { name: 'scan.tif' }), {
      name: 'BadInputError',
      message: 'scan.tif: TIFF images are not supported; use JPEG, PNG, WebP or GIF',
    });
  });

  it('truncated data, missing files and empty input', async () => {
    const full = readFileSync(`${IMAGES}/portrait_45x90.jpg`);
    await assert.rejects(decodeImage(full.subarray(0, 400), { name: 'cut.jpg' }), BadInputError);
    await assert.rejects(decodeImage('test/fixtures/llava/images/nope.png'), NotFoundError);
    await assert.rejects(decodeImage(new Uint8Array(0)), BadInputError);
  });

  it('maxPixels guards against decompression bombs', async () => {
    await assert.rejects(decodeImage(`${IMAGES}/checker_64x64.png`, { maxPixels: 4095 }), (e: unknown) => {
      assert.ok(e instanceof TooLargeError);
      assert.match(e.message, /64x64 = 4096 pixels exceeds the limit of 4095 pixels/);
      return true;
    });
    const ok = await decodeImage(`${IMAGES}/checker_64x64.png`, { maxPixels: 4096 });
    assert.equal(ok.image.width, 64);
  });

  it('loadImage passes decoded RGB through and checks its size', async () => {
    const rgb = { width: 2, height: 1, data: new Uint8Array(6) };
    assert.equal((await loadImage(rgb)).image, rgb);
    await assert.rejects(loadImage({ width: 2, height: 2, data: new Uint8Array(6) }), BadInputError);
  });
});
