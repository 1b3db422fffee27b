/**
 * A small deterministic ImgTokensModel for server tests: encode reads the image header with sharp and makes a
 * 4x4 base grid (plus a 2x4 grid view when asked); lens names every word after the image's sha256 prefix, so a
 * test can tell which image a result came from. Optional delays make queueing observable.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { ImgTokensModel } from '../../src/api.js';
import type { ImageFeatures, ImageInput, LayoutToken, ResultJson, ViewInfo } from '../../src/types.js';

export interface FakeModel extends ImgTokensModel {
  encodeCalls: number;
  lensCalls: number;
  /** Highest number of encode/lens calls running at once (must stay 1). */
  maxConcurrent: number;
}

export function imageTag(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function fakeModel(
  opts: { encodeMs?: number; lensMs?: number; grid?: boolean; id?: string } = {},
): FakeModel {
  const id = opts.id ?? 'fake/tiny';
  let running = 0;
  const tags = new WeakMap<ImageFeatures, string>();
  const enter = async <T>(ms: number, fn: () => Promise<T>): Promise<T> => {
    running++;
    model.maxConcurrent = Math.max(model.maxConcurrent, running);
    try {
      if (ms > 0) await sleep(ms);
      return await fn();
    } finally {
      running--;
    }
  };
  const model: FakeModel = {
    info: {
      id,
      modelType: 'fake',
      vocabSize: 64,
      hidden: 4,
      views: opts.grid ? ['base', 'grid'] : ['base'],
    },
    encodeCalls: 0,
    lensCalls: 0,
    maxConcurrent: 0,
    async encode(image: ImageInput) {
      model.encodeCalls++;
      return enter(opts.encodeMs ?? 0, async () => {
        if (!(image instanceof Uint8Array)) throw new Error('fake model takes bytes');
        const { width = 1, height = 1 } = await sharp(image).metadata();
        const tokens: LayoutToken[] = [];
        for (let r = 0; r < 4; r++)
          for (let c = 0; c < 4; c++) {
            const box = { x: (c * width) / 4, y: (r * height) / 4, w: width / 4, h: height / 4 };
            tokens.push({
              index: tokens.length,
              kind: 'patch',
              view: 'base',
              crop: 0,
              row: r,
              col: c,
              source: 0,
              box,
            });
          }
        const views: ViewInfo[] = [{ name: 'base', rows: 4, cols: 4, start: 0, count: 16 }];
        if (opts.grid) {
          for (let r = 0; r < 2; r++)
            for (let c = 0; c < 4; c++) {
              const box = { x: (c * width) / 4, y: (r * height) / 2, w: width / 4, h: height / 2 };
              tokens.push({
                index: tokens.length,
                kind: 'patch',
                view: 'grid',
                crop: 1,
                row: r,
                col: c,
                source: 0,
                box,
              });
            }
          views.push({ name: 'grid', rows: 2, cols: 4, start: 16, count: 8 });
        }
        const n = tokens.length;
        const f: ImageFeatures = {
          image: { width, height },
          pixelValues: new Float32Array(3 * 8 * 8),
          pixelShape: [1, 3, 8, 8],
          cropFeatures: new Float32Array(n * 4),
          cropShape: [1, n, 4],
          features: new Float32Array(n * 4),
          hidden: 4,
          layout: { imageWidth: width, imageHeight: height, views, tokens },
          rgb: { width, height, data: new Uint8Array(width * height * 3) },
        };
        tags.set(f, imageTag(image));
        return f;
      });
    },
    async lens(features, o) {
      model.lensCalls++;
      return enter(opts.lensMs ?? 0, async () => {
        const tag = tags.get(features) ?? 'unknown';
        const result: ResultJson = {
          schema: 'imgtokens.result/1',
          model: { id, modelType: 'fake', vocabSize: 64, hidden: 4 },
          image: { ...features.image },
          method: o.method,
          k: o.k,
          exclude: o.exclude ?? [],
          views: features.layout.views,
          tokens: features.layout.tokens.map((t) => ({
            index: t.index,
            kind: t.kind,
            view: t.view,
            row: t.row,
            col: t.col,
            box: t.box,
            top: Array.from({ length: o.k }, (_, r) => ({
              id: (t.index * 5 + r) % 64,
              text: `${tag}-${t.index}-${r}`,
              score: 1 - r * 0.1 - t.index * 0.01,
            })),
          })),
        };
        return result;
      });
    },
    async analyze(image, o) {
      return this.lens(await this.encode(image, o), o);
    },
    async close() {},
  };
  return model;
}

/** A valid PNG of the given size and colour. */
export function pngOf(width: number, height: number, rgb: [number, number, number]): Promise<Uint8Array> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer()
    .then((b) => new Uint8Array(b));
}
