/**
 * Gemma4ImageProcessor (torchvision backend, what transformers 5's AutoProcessor picks; `Gemma4ImageProcessorPil` is
 * the PIL backend). transformers 5.12.1 models/gemma4/image_processing_gemma4.py (class defaults: patch_size 16,
 * max_soft_tokens 280 (one of 70/140/280/560/1120), pooling_kernel_size 3, resample BICUBIC, rescale 1/255,
 * do_normalize false, do_convert_rgb) and image_processing_pil_gemma4.py:
 *   1. convert_to_rgb (alpha dropped, not composited);
 *   2. get_aspect_ratio_preserving_size: max_patches = max_soft_tokens · k², factor = sqrt(max_patches p² / (h w)),
 *      each side floor(factor · side / (k p)) · (k p), a side of 0 becomes k p with the other
 *      min(floor(long / short) · k p, (max_patches / k²) · k p); resized with BICUBIC unless the size already matches
 *      (torch's uint8 antialiased kernel, src/image/resize-torch.ts, or Pillow's, src/image/resize.ts);
 *   3. rescale: torchvision float32(x) · float32(1/255); PIL float32(float64(x) / 255); no normalisation;
 *   4. patchify row-major over the patch grid, each patch vector (py, px, c): channel LAST;
 *   5. pad to max_patches rows with zeros; image_position_ids (x, y) = (column, row), (-1, -1) on padding.
 * pixel_values is [1, max_patches, 3 p²] as the processor returns it.
 */
import type { ImageBackend } from '../../api.js';
import { ConfigReader, type Json } from '../../config/reader.js';
import { BadInputError, CheckpointError, UnsupportedModelError } from '../../errors.js';
import { readResample, resizeMap, type PreprocessResult, type ProcessorDef } from '../../image/processor.js';
import { resizePillow, type ResampleFilter } from '../../image/resize.js';
import { resizeTorchvision } from '../../image/resize-torch.js';
import { toChw, type Size } from '../../image/transforms.js';
import type { RgbImage } from '../../types.js';

export const SUPPORTED_SOFT_TOKENS = [70, 140, 280, 560, 1120] as const;

export interface Gemma4ProcessorSpec {
  type: 'Gemma4ImageProcessor';
  processorClass: string;
  doResize: boolean;
  patchSize: number;
  maxSoftTokens: number;
  poolingKernelSize: number;
  resample: ResampleFilter;
  doRescale: boolean;
  rescaleFactor: number;
  backend: ImageBackend;
}

export const GEMMA4_PROCESSOR_DEFAULTS = {
  patchSize: 16,
  maxSoftTokens: 280,
  poolingKernelSize: 3,
  resample: 3, // PILImageResampling.BICUBIC
  rescaleFactor: 1 / 255,
};

export function parseGemma4ProcessorConfig(
  raw: Json,
  where: string,
  backend: ImageBackend,
): Gemma4ProcessorSpec {
  const r = new ConfigReader(raw, where);
  const cls = r.str('image_processor_type', 'Gemma4ImageProcessor');
  if (cls.replace(/Pil$|Fast$/, '') !== 'Gemma4ImageProcessor') {
    throw new UnsupportedModelError(`${where}: image processor "${cls}" is not Gemma4ImageProcessor`, {
      hint: 'a gemma4 checkpoint comes with Gemma4ImageProcessor (or Gemma4ImageProcessorPil)',
    });
  }
  const d = GEMMA4_PROCESSOR_DEFAULTS;
  const maxSoftTokens = r.posInt('max_soft_tokens', d.maxSoftTokens);
  if (!(SUPPORTED_SOFT_TOKENS as readonly number[]).includes(maxSoftTokens)) {
    throw new CheckpointError(
      `${where}: max_soft_tokens ${maxSoftTokens} must be one of ${SUPPORTED_SOFT_TOKENS.join(', ')}`,
      {
        hint: 'Gemma4ImageProcessor raises on any other value',
      },
    );
  }
  if (r.bool('do_normalize', false)) {
    const mean = r.numArray('image_mean', [0, 0, 0]);
    const std = r.numArray('image_std', [1, 1, 1]);
    if (mean.some((m) => m !== 0) || std.some((s) => s !== 1)) {
      throw new UnsupportedModelError(
        `${where}: do_normalize with mean ${mean} / std ${std} is not supported`,
        {
          hint: 'Gemma 4 checkpoints do not normalise (the vision tower rescales 2 (x - 0.5) itself)',
        },
      );
    }
  }
  return {
    type: 'Gemma4ImageProcessor',
    processorClass: cls,
    doResize: r.bool('do_resize', true),
    patchSize: r.posInt('patch_size', d.patchSize),
    maxSoftTokens,
    poolingKernelSize: r.posInt('pooling_kernel_size', d.poolingKernelSize),
    resample: readResample(r, d.resample),
    doRescale: r.bool('do_rescale', true),
    rescaleFactor: r.num('rescale_factor', d.rescaleFactor),
    backend,
  };
}

/** get_aspect_ratio_preserving_size (image_processing_gemma4.py) as [height, width]. */
export function gemma4TargetSize(
  img: Size,
  spec: Pick<Gemma4ProcessorSpec, 'patchSize' | 'maxSoftTokens' | 'poolingKernelSize'>,
): Size {
  const { height, width } = img;
  const p = spec.patchSize;
  const k = spec.poolingKernelSize;
  const maxPatches = spec.maxSoftTokens * k * k;
  const targetPx = maxPatches * p * p;
  const factor = Math.sqrt(targetPx / (height * width));
  const side = k * p;
  let th = Math.floor((factor * height) / side) * side;
  let tw = Math.floor((factor * width) / side) * side;
  if (th === 0 && tw === 0) {
    throw new BadInputError(`Gemma4: a ${width}x${height} image resizes to 0 x 0`, {
      hint: `each side must reach pooling_kernel_size * patch_size = ${side} px within the patch budget`,
    });
  }
  const maxSide = Math.floor(maxPatches / (k * k)) * side;
  if (th === 0) {
    th = side;
    tw = Math.min(Math.floor(width / height) * side, maxSide);
  } else if (tw === 0) {
    tw = side;
    th = Math.min(Math.floor(height / width) * side, maxSide);
  }
  if (th * tw > targetPx) {
    throw new BadInputError(
      `Gemma4: resizing ${width}x${height} to ${tw}x${th} exceeds ${maxPatches} patches`,
    );
  }
  return { height: th, width: tw };
}

export interface Gemma4Preprocess extends PreprocessResult {
  gemma4: {
    resized: RgbImage;
    /** Patch grid (rows, cols), real patches, max_patches, pooling kernel. */
    patchRows: number;
    patchCols: number;
    realPatches: number;
    maxPatches: number;
    kernel: number;
    /** [max_patches, 2] (x, y), -1 on padding (int32 here; int64 in HF). */
    positionIds: Int32Array;
  };
}

export function gemma4Preprocess(rgb: RgbImage, spec: Gemma4ProcessorSpec): Gemma4Preprocess {
  const image = { height: rgb.height, width: rgb.width };
  const p = spec.patchSize;
  const k = spec.poolingKernelSize;
  const target = spec.doResize ? gemma4TargetSize(image, spec) : image;
  if (target.height % p !== 0 || target.width % p !== 0) {
    throw new BadInputError(`Gemma4: a ${target.width}x${target.height} image is not whole ${p}px patches`, {
      hint: 'without do_resize the image must already be a multiple of patch_size',
    });
  }
  let resized = rgb;
  if (target.height !== image.height || target.width !== image.width) {
    resized =
      spec.backend === 'pil'
        ? resizePillow(rgb, target.width, target.height, { filter: spec.resample })
        : resizeTorchvision(rgb, target.width, target.height, spec.resample);
  }
  const rows = target.height / p;
  const cols = target.width / p;
  const real = rows * cols;
  const maxPatches = spec.maxSoftTokens * k * k;
  if (real > maxPatches) {
    throw new BadInputError(`Gemma4: ${real} patches exceed max_patches ${maxPatches}`);
  }
  const dim = 3 * p * p;
  const lut = new Float32Array(256);
  const f = spec.rescaleFactor;
  for (let v = 0; v < 256; v++) {
    // torchvision: float32 image times float32(rescale); PIL: float64 product rounded to float32
    lut[v] = !spec.doRescale
      ? v
      : spec.backend === 'pil'
        ? Math.fround(v * f)
        : Math.fround(v * Math.fround(f));
  }
  const pixelValues = new Float32Array(maxPatches * dim); // zero padding rows
  const positionIds = new Int32Array(maxPatches * 2).fill(-1);
  const W = target.width;
  const d = resized.data;
  for (let pr = 0; pr < rows; pr++) {
    for (let pc = 0; pc < cols; pc++) {
      const n = pr * cols + pc;
      positionIds[n * 2] = pc;
      positionIds[n * 2 + 1] = pr;
      let o = n * dim;
      for (let py = 0; py < p; py++) {
        for (let px = 0; px < p; px++) {
          const src = ((pr * p + py) * W + pc * p + px) * 3;
          pixelValues[o++] = lut[d[src]];
          pixelValues[o++] = lut[d[src + 1]];
          pixelValues[o++] = lut[d[src + 2]];
        }
      }
    }
  }
  const cropsUint8 = new Uint8Array(3 * target.height * target.width);
  toChw(resized, cropsUint8, 0);
  return {
    cropsUint8,
    pixelValues,
    shape: [1, maxPatches, dim],
    geometry: {
      image,
      crops: [
        {
          index: 0,
          view: 'base',
          gridRow: -1,
          gridCol: -1,
          region: { top: 0, left: 0, height: image.height, width: image.width },
          resize: resized === rgb ? null : target,
          centerCrop: null,
          height: target.height,
          width: target.width,
          toOriginal: resizeMap(image, target),
        },
      ],
      anyres: null,
    },
    gemma4: {
      resized,
      patchRows: rows,
      patchCols: cols,
      realPatches: real,
      maxPatches,
      kernel: k,
      positionIds,
    },
  };
}

export const GEMMA4_PROCESSOR: ProcessorDef<Gemma4ProcessorSpec> = {
  type: 'Gemma4ImageProcessor',
  aliases: ['Gemma4ImageProcessorPil', 'Gemma4ImageProcessorFast'],
  parse: (raw, where) => parseGemma4ProcessorConfig(raw, where, 'torchvision'),
  run: (rgb, spec) => gemma4Preprocess(rgb, spec),
};
