/**
 * transformers 5's two image-processor backends, as steps every processor in src/image and in the families shares:
 * `pil` (the `*Pil` classes, = transformers 4.45: Pillow resize on uint8, then float32(x * rescale), then
 * (x - mean) / std) and `torchvision` (what `AutoImageProcessor` / `AutoProcessor` pick when torchvision is installed).
 * The torchvision steps mirror transformers 5.12.1 image_processing_backends.py `TorchvisionBackend`:
 *   - resize: `tvF.resize(uint8 tensor, antialias=True)`, torch's native uint8 antialiased kernel on the CPU
 *     (src/image/resize-torch.ts `resizeTorchvision`);
 *   - center_crop: when the crop is larger than the image, `tvF.pad` with (excess // 2) before and the rest after,
 *     then `crop_top = int((h - ch) / 2.0)`: for a crop inside the image the same floor offset as the PIL backend,
 *     for a larger crop the odd excess pixel goes AFTER (the PIL backend puts it before);
 *   - `_rescale_and_normalize`: with both flags, the fused (x - mean / rescale) / (std / rescale) in float32
 *     (`toPixelValuesFused`); normalize only: `tvF.normalize` on the float32 values; rescale only: `x * rescale`
 *     (a float32 product);
 *   - padding (`tvF.pad`, anyres): zeros, as on the PIL backend.
 * The measured difference between the two (fixtures-modern/v5-vs-v445.json, test/image/backends.test.ts): uint8
 * values +-1 on at most a few tenths of a percent of the values, pixel_values up to 0.015 (CLIP mean/std) and 2e-7
 * where the uint8 values agree.
 */
import type { ImageBackend } from '../api.js';
import { UnsupportedModelError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { resizePillow, type ResampleFilter } from './resize.js';
import { resizeTorchvision, toPixelValuesFused } from './resize-torch.js';
import {
  centerCropWindow,
  toPixelValues,
  type CropWindow,
  type NormalizeSpec,
  type Size,
} from './transforms.js';

export type { ImageBackend } from '../api.js';

/** Both backends, in the order `imgtokens models` lists them. */
export const IMAGE_BACKENDS: readonly ImageBackend[] = ['pil', 'torchvision'];

/** The backend a spec names (specs parsed before the backend field existed count as PIL). */
export function backendOf(spec: { backend?: ImageBackend }): ImageBackend {
  return spec.backend ?? 'pil';
}

/** Resizes `img` to width x height the way `backend` does. */
export function resizeWith(
  backend: ImageBackend,
  img: RgbImage,
  width: number,
  height: number,
  filter: ResampleFilter,
): RgbImage {
  if (backend === 'pil') return resizePillow(img, width, height, { filter });
  if (filter === 'box' || filter === 'hamming') {
    throw new UnsupportedModelError(
      `resample "${filter}" has no torchvision kernel (torch antialiases bilinear, bicubic and lanczos only)`,
      { hint: 'use --image-backend pil (Pillow resizes with every filter)' },
    );
  }
  return resizeTorchvision(img, width, height, filter);
}

/** The center-crop window of `crop` on an image of size `img` for `backend` (see the header for the difference). */
export function centerCropWindowWith(backend: ImageBackend, img: Size, crop: Size): CropWindow {
  if (backend === 'pil') return centerCropWindow(img, crop);
  // TorchvisionBackend.center_crop: pad (excess // 2) before on an axis the crop is larger on, then int((h - ch) / 2).
  const axis = (have: number, want: number): number =>
    want > have ? -Math.floor((want - have) / 2) : Math.trunc((have - want) / 2);
  return {
    top: axis(img.height, crop.height),
    left: axis(img.width, crop.width),
    height: crop.height,
    width: crop.width,
  };
}

/** Rescale + normalize + HWC -> CHW for `backend`, writing [3, H, W] float32 into `out` at `offset`. */
export function toPixelValuesWith(
  backend: ImageBackend,
  img: RgbImage,
  spec: NormalizeSpec,
  out: Float32Array,
  offset = 0,
): void {
  if (backend === 'pil') {
    toPixelValues(img, spec, out, offset);
    return;
  }
  if (out.length < offset + img.width * img.height * 3) {
    throw new RangeError('toPixelValuesWith: output buffer too small');
  }
  if (spec.doRescale && spec.doNormalize) {
    toPixelValuesFused(img, spec, out, offset);
    return;
  }
  // Unfused: normalize on the float32 values, or the float32 product x * rescale, or the values as they are.
  const plane = img.width * img.height;
  const d = img.data;
  const scale = Math.fround(spec.rescaleFactor);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(spec.mean[c]);
    const s = Math.fround(spec.std[c]);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      lut[v] = spec.doNormalize
        ? Math.fround(Math.fround(v - m) / s)
        : spec.doRescale
          ? Math.fround(v * scale)
          : v;
    }
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[d[i * 3 + c]];
  }
}

/** What a family's notices say about the backend that runs (the class names are transformers 5's). */
export function backendNotice(backend: ImageBackend, processorClass: string, dflt: ImageBackend): string {
  const base = processorClass.replace(/(Fast|Pil)$/, '');
  const which =
    backend === 'pil'
      ? `the Pillow backend (${base}Pil, = transformers 4.45, bit-exact)`
      : `the torchvision backend (${base}, torch's uint8 antialiased resize and the fused rescale + normalize)`;
  const other = backend === 'pil' ? 'torchvision' : 'pil';
  return `image processor: ${which}${backend === dflt ? ' (the default)' : ''}; --image-backend ${other} for the other`;
}

/**
 * A family's choice: `asked` (LoadOptions.imageBackend) or the family's default, set on the parsed spec, with the
 * notice that says which backend runs.
 */
export function chooseBackend<S extends { backend: ImageBackend; processorClass: string }>(
  spec: S,
  asked: ImageBackend | undefined,
  dflt: ImageBackend,
  where: string,
): { spec: S; notice: string } {
  const backend = asked ?? dflt;
  return {
    spec: { ...spec, backend },
    notice: `${where}: ${backendNotice(backend, spec.processorClass, dflt)}`,
  };
}
