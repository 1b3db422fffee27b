/**
 * Gemma3ImageProcessor (torchvision backend, what transformers 5's AutoProcessor picks; `Gemma3ImageProcessorPil`
 * is the PIL backend, `Gemma3ImageProcessorFast` the 4.x name of the torchvision one). transformers 5.12.1
 * models/gemma3/image_processing_gemma3.py, defaults from Gemma3ImageProcessor.__init__ (size 224 x 224, resample
 * BILINEAR, rescale 1/255, mean = std = IMAGENET_STANDARD 0.5, do_convert_rgb):
 *   1. convert_to_rgb (alpha dropped, not composited: src/image/decode.ts gives RGB that way);
 *   2. pan-and-scan (only when the CALL asks for it: see below): crops of the ORIGINAL image, listed after it;
 *   3. every view squashed to size.height x size.width (aspect NOT kept): PIL `Image.resize(BILINEAR)` on the PIL
 *      backend, bit for bit (src/image/resize.ts); torch's uint8 antialiased kernel on the torchvision backend
 *      (src/image/resize-torch.ts);
 *   4. rescale + normalize: PIL float32(float64(x) / 255) then (v - 0.5) / 0.5 in float32; torchvision fused
 *      (float32(x) - 127.5) / 127.5.
 * Pan-and-scan: Gemma3Processor.__call__ passes its own defaults (do_pan_and_scan False, min crop 256, 4 crops,
 * ratio 1.2) explicitly, so `do_pan_and_scan` in the image-processor settings never takes effect in 5.12.1
 * (fixtures-modern README-gemma.md, asserted there). This port does the same and says so in a notice; the crop
 * geometry (Gemma3ImageProcessor.pan_and_scan) is implemented for a spec that sets `panAndScan` and is checked
 * against the fixtures' pan-and-scan runs (src/families/gemma3/gemma3.test.ts).
 */
import type { ImageBackend } from '../../api.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import { UnsupportedModelError } from '../../errors.js';
import {
  parseSize,
  readPixelNorm,
  readResample,
  type AffineMap,
  type CropGeometry,
  type PreprocessResult,
  type ProcessorDef,
} from '../../image/processor.js';
import { resizePillow, type ResampleFilter } from '../../image/resize.js';
import { resizeTorchvision, toPixelValuesFused } from '../../image/resize-torch.js';
import { cropImage, toChw, toPixelValues, type CropWindow, type Size } from '../../image/transforms.js';
import type { RgbImage } from '../../types.js';

export interface PanAndScanSpec {
  minCropSize: number;
  maxNumCrops: number;
  minRatioToActivate: number;
}

export interface Gemma3ProcessorSpec {
  type: 'Gemma3ImageProcessor';
  processorClass: string;
  doResize: boolean;
  size: Size;
  resample: ResampleFilter;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  backend: ImageBackend;
  /** Pan-and-scan settings when enabled (never from the settings file; see the header), else null. */
  panAndScan: PanAndScanSpec | null;
  /** What the settings file said about do_pan_and_scan (for the notice). */
  configPanAndScan: boolean;
}

/** Gemma3ImageProcessor.__init__ defaults. */
export const GEMMA3_PROCESSOR_DEFAULTS = {
  size: 224,
  resample: 2, // PILImageResampling.BILINEAR
  rescaleFactor: 1 / 255,
  imageMean: [0.5, 0.5, 0.5] as [number, number, number],
  imageStd: [0.5, 0.5, 0.5] as [number, number, number],
};

/** What Gemma3Processor passes (Gemma3ProcessorKwargs._defaults images_kwargs) when the call asks for pan-and-scan. */
export const GEMMA3_PAN_AND_SCAN_DEFAULTS: PanAndScanSpec = {
  minCropSize: 256,
  maxNumCrops: 4,
  minRatioToActivate: 1.2,
};

export function parseGemma3ProcessorConfig(
  raw: Json,
  where: string,
  backend: ImageBackend,
): Gemma3ProcessorSpec {
  const r = new ConfigReader(raw, where);
  const cls = r.str('image_processor_type', 'Gemma3ImageProcessor');
  if (cls.replace(/Pil$|Fast$/, '') !== 'Gemma3ImageProcessor') {
    throw new UnsupportedModelError(`${where}: image processor "${cls}" is not Gemma3ImageProcessor`, {
      hint: 'a gemma3 checkpoint comes with Gemma3ImageProcessor (or its Pil / Fast names)',
    });
  }
  const d = GEMMA3_PROCESSOR_DEFAULTS;
  const size = parseSize(r, 'size', { height: d.size, width: d.size }, true);
  if (!('height' in size)) {
    throw new UnsupportedModelError(`${where}: Gemma3ImageProcessor size must be {height, width}`, {
      hint: 'the processor squashes every view to size.height x size.width',
    });
  }
  const norm = readPixelNorm(r, {
    rescaleFactor: d.rescaleFactor,
    imageMean: d.imageMean,
    imageStd: d.imageStd,
  });
  return {
    type: 'Gemma3ImageProcessor',
    processorClass: cls,
    doResize: r.bool('do_resize', true),
    size: { height: size.height, width: size.width },
    resample: readResample(r, d.resample),
    doRescale: norm.doRescale,
    rescaleFactor: norm.rescaleFactor,
    doNormalize: norm.doNormalize,
    imageMean: norm.imageMean,
    imageStd: norm.imageStd,
    backend,
    panAndScan: null,
    configPanAndScan: r.bool('do_pan_and_scan', false),
  };
}

// ---------------------------------------------------------------- geometry

/**
 * Gemma3ImageProcessor.pan_and_scan: the crop windows of an h x w image (row-major), [] when it does not apply.
 * Landscape (w >= h): only if w / h >= ratio; n = clamp(min(floor(w / h + 0.5), floor(w / min_crop)), 2, max),
 * crop width ceil(w / n), full height; portrait mirrored. None when a crop side < min_crop. The last crop is cut
 * at the border (numpy slicing).
 */
export function panAndScanWindows(img: Size, p: PanAndScanSpec): CropWindow[] {
  const { height: h, width: w } = img;
  let nw = 1;
  let nh = 1;
  if (w >= h) {
    if (w / h < p.minRatioToActivate) return [];
    nw = Math.min(Math.floor(w / p.minCropSize), Math.floor(w / h + 0.5));
    nw = Math.min(p.maxNumCrops, Math.max(2, nw));
  } else {
    if (h / w < p.minRatioToActivate) return [];
    nh = Math.min(Math.floor(h / p.minCropSize), Math.floor(h / w + 0.5));
    nh = Math.min(p.maxNumCrops, Math.max(2, nh));
  }
  const cw = Math.ceil(w / nw);
  const ch = Math.ceil(h / nh);
  if (Math.min(cw, ch) < p.minCropSize) return [];
  const out: CropWindow[] = [];
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) {
      const top = i * ch;
      const left = j * cw;
      out.push({ top, left, height: Math.min(ch, h - top), width: Math.min(cw, w - left) });
    }
  }
  return out;
}

export interface Gemma3Preprocess extends PreprocessResult {
  gemma3: {
    /** The crop windows of the original image (pan-and-scan), [] for one view. */
    crops: CropWindow[];
    /** Crop grid (rows, cols) of the pan-and-scan crops; 0 x 0 without. */
    cropRows: number;
    cropCols: number;
    /** Each view after the resize (uint8 HWC), for dumps and tests. */
    resized: RgbImage[];
  };
}

export function gemma3Preprocess(rgb: RgbImage, spec: Gemma3ProcessorSpec): Gemma3Preprocess {
  const image = { height: rgb.height, width: rgb.width };
  const { height: S, width: SW } = spec.size;
  const windows = spec.panAndScan ? panAndScanWindows(image, spec.panAndScan) : [];
  const views: Array<{ img: RgbImage; win: CropWindow }> = [
    { img: rgb, win: { top: 0, left: 0, height: image.height, width: image.width } },
    ...windows.map((win) => ({ img: cropImage(rgb, win), win })),
  ];
  const resize = (img: RgbImage): RgbImage => {
    if (!spec.doResize) return img;
    return spec.backend === 'pil'
      ? resizePillow(img, SW, S, { filter: spec.resample })
      : resizeTorchvision(img, SW, S, spec.resample);
  };
  const resized = views.map((v) => resize(v.img));
  const outH = resized[0].height;
  const outW = resized[0].width;
  const per = 3 * outH * outW;
  const cropsUint8 = new Uint8Array(resized.length * per);
  const pixelValues = new Float32Array(resized.length * per);
  const crops: CropGeometry[] = [];
  const rows = windows.length ? new Set(windows.map((w) => w.top)).size : 0;
  const cols = windows.length ? new Set(windows.map((w) => w.left)).size : 0;
  resized.forEach((img, i) => {
    if (img.width !== outW || img.height !== outH) {
      throw new UnsupportedModelError(`Gemma3: views of different sizes need do_resize`);
    }
    toChw(img, cropsUint8, i * per);
    if (spec.backend === 'torchvision' && spec.doRescale && spec.doNormalize) {
      toPixelValuesFused(
        img,
        { rescaleFactor: spec.rescaleFactor, mean: spec.imageMean, std: spec.imageStd },
        pixelValues,
        i * per,
      );
    } else {
      toPixelValues(
        img,
        {
          doRescale: spec.doRescale,
          rescaleFactor: spec.rescaleFactor,
          doNormalize: spec.doNormalize,
          mean: spec.imageMean,
          std: spec.imageStd,
        },
        pixelValues,
        i * per,
      );
    }
    const win = views[i].win;
    // view pixel frame -> original: the squash is edge-to-edge, then the crop's offset
    const toOriginal: AffineMap = { sx: win.width / outW, sy: win.height / outH, tx: win.left, ty: win.top };
    const gi = i === 0 ? -1 : Math.floor((i - 1) / cols);
    const gj = i === 0 ? -1 : (i - 1) % cols;
    crops.push({
      index: i,
      view: i === 0 ? 'base' : 'grid',
      gridRow: gi,
      gridCol: gj,
      region: win,
      resize: spec.doResize ? { height: outH, width: outW } : null,
      centerCrop: null,
      height: outH,
      width: outW,
      toOriginal,
    });
  });
  return {
    cropsUint8,
    pixelValues,
    shape: [resized.length, 3, outH, outW],
    geometry: { image, crops, anyres: null },
    gemma3: { crops: windows, cropRows: rows, cropCols: cols, resized },
  };
}

/** The registered class; parse() gives the torchvision backend, the family sets `backend` from LoadOptions. */
export const GEMMA3_PROCESSOR: ProcessorDef<Gemma3ProcessorSpec> = {
  type: 'Gemma3ImageProcessor',
  aliases: ['Gemma3ImageProcessorPil', 'Gemma3ImageProcessorFast'],
  parse: (raw, where) => parseGemma3ProcessorConfig(raw, where, 'torchvision'),
  run: (rgb, spec) => gemma3Preprocess(rgb, spec),
};
