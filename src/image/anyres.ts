/**
 * "anyres" preprocessing (LLaVA-NeXT and the processors built on it): best grid resolution from a list of pinpoints ->
 * aspect-preserving resize -> centred black padding -> crops = [whole image squashed to a square] + grid crops
 * row-major, each through the CLIP steps (src/image/clip.ts).
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava_next/image_processing_llava_next.py
 * (get_image_patches, _get_patch_output_size, _pad_for_patching, divide_to_patches) and image_processing_utils.py
 * (select_best_resolution). transformers 5.12.1's torchvision LlavaNextImageProcessor runs the same steps
 * (_resize_for_patching, _pad_for_patching with tvF.pad zeros, divide_to_patches, then resize / center_crop / fused
 * rescale + normalize per crop): `spec.backend` picks the resize, crop and normalisation (src/image/backend.ts).
 */
import { CheckpointError } from '../errors.js';
import type { RgbImage } from '../types.js';
import { clipGeometricSteps, stack, type ClipProcessorSpec } from './clip.js';
import {
  composeAffine,
  offsetMap,
  resizeMap,
  type AffineMap,
  type AnyresGeometry,
  type CropGeometry,
  type PreprocessResult,
} from './processor.js';
import { backendOf, resizeWith } from './backend.js';
import { cropImage, padImage, type CropWindow, type Padding, type Size } from './transforms.js';

/**
 * Where the odd pixel of the anyres padding goes. transformers 4.45 pads floor(diff/2) on BOTH sides, so the padded
 * image is 1 px short when diff is odd ('floor-both'); PR #37819 (~v4.52) puts the extra pixel bottom/right.
 */
export type OddPadding = 'floor-both' | 'extra-bottom-right';

/** An anyres processor's settings: the CLIP steps for every crop plus the grid of resolutions to choose from. */
export interface AnyresProcessorSpec extends ClipProcessorSpec {
  /** [height, width] pairs. */
  gridPinpoints: Array<[number, number]>;
  /** do_pad pads the NUMBER of crops across a batch; irrelevant for one image and kept only for completeness. */
  doPad: boolean;
  oddPadding: OddPadding;
}

/**
 * image_processing_utils.select_best_resolution: the pinpoint (h, w) that keeps the most of the original resolution
 * (effective = min(int(w*s) * int(h*s), w*h), s = min(W/w, H/h)), ties broken by the least waste, then by list order.
 */
export function selectBestResolution(img: Size, pinpoints: ReadonlyArray<readonly [number, number]>): Size {
  let best: Size | null = null;
  let maxEffective = 0;
  let minWasted = Infinity;
  for (const [height, width] of pinpoints) {
    const scale = Math.min(width / img.width, height / img.height);
    const dw = Math.trunc(img.width * scale);
    const dh = Math.trunc(img.height * scale);
    const effective = Math.min(dw * dh, img.width * img.height);
    const wasted = width * height - effective;
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      maxEffective = effective;
      minWasted = wasted;
      best = { height, width };
    }
  }
  if (!best) throw new CheckpointError('image_grid_pinpoints is empty');
  return best;
}

/** image_processing_llava_next._get_patch_output_size: fit inside target keeping the aspect ratio, math.ceil on the free side. */
export function patchOutputSize(img: Size, target: Size): Size {
  const scaleW = target.width / img.width;
  const scaleH = target.height / img.height;
  if (scaleW < scaleH) {
    return { width: target.width, height: Math.min(Math.ceil(img.height * scaleW), target.height) };
  }
  return { height: target.height, width: Math.min(Math.ceil(img.width * scaleH), target.width) };
}

/** The anyres geometry for an image of `img` size: grid, resize, padding (no pixels touched). */
export function anyresGeometry(img: Size, spec: AnyresProcessorSpec): AnyresGeometry {
  const best = selectBestResolution(img, spec.gridPinpoints);
  const side = spec.cropSize.height; // get_image_patches(patch_size=crop_size["height"])
  const resized = patchOutputSize(img, best);
  const dh = best.height - resized.height;
  const dw = best.width - resized.width;
  // _pad_for_patching: paste = diff // 2, padded ((paste_y, paste_y), (paste_x, paste_x)) in 4.45.
  const top = Math.floor(dh / 2);
  const left = Math.floor(dw / 2);
  const pad: Padding =
    spec.oddPadding === 'floor-both'
      ? { top, bottom: top, left, right: left }
      : { top, bottom: dh - top, left, right: dw - left };
  const padded = {
    height: resized.height + pad.top + pad.bottom,
    width: resized.width + pad.left + pad.right,
  };
  const ss =
    'shortestEdge' in spec.size ? spec.size.shortestEdge : Math.min(spec.size.height, spec.size.width);
  return {
    pinpoints: spec.gridPinpoints,
    bestResolution: best,
    // divide_to_patches steps over range(0, size, patch): a 1 px short padded image still gives the full count.
    rows: Math.ceil(padded.height / side),
    cols: Math.ceil(padded.width / side),
    cropSide: side,
    resized,
    pad,
    padded,
    oddPaddingQuirk: padded.height !== best.height || padded.width !== best.width,
    baseSize: { height: ss, width: ss },
  };
}

/**
 * LlavaNextImageProcessor.preprocess for one RGB image: pixel_values [1 + rows*cols, 3, H, W]; crop 0 is the whole image
 * resized to a square (aspect NOT kept), then the grid crops row-major; every crop then runs the CLIP steps.
 */
export function anyresPreprocess(rgb: RgbImage, spec: AnyresProcessorSpec): PreprocessResult {
  const image = { height: rgb.height, width: rgb.width };
  const a = anyresGeometry(image, spec);
  const stage: RgbImage[] = [];
  const regions: CropWindow[] = [];
  const stageToOriginal: AffineMap[] = [];

  // get_image_patches: resized_original_image = resize(image, (ss, ss)) is crop 0.
  const backend = backendOf(spec);
  stage.push(resizeWith(backend, rgb, a.baseSize.width, a.baseSize.height, spec.resample));
  regions.push({ top: 0, left: 0, height: image.height, width: image.width });
  stageToOriginal.push(resizeMap(image, a.baseSize));

  const resized = resizeWith(backend, rgb, a.resized.width, a.resized.height, spec.resample);
  const padded = padImage(resized, a.pad);
  // padded frame -> resized frame -> original
  const paddedToOriginal = composeAffine(resizeMap(image, a.resized), offsetMap(-a.pad.top, -a.pad.left));
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < a.cols; c++) {
      // divide_to_patches: numpy slicing, so edge crops are cut short by a short padded image.
      const top = r * a.cropSide;
      const left = c * a.cropSide;
      const win = {
        top,
        left,
        height: Math.min(a.cropSide, padded.height - top),
        width: Math.min(a.cropSide, padded.width - left),
      };
      stage.push(cropImage(padded, win));
      regions.push(win);
      stageToOriginal.push(composeAffine(paddedToOriginal, offsetMap(top, left)));
    }
  }

  const crops: CropGeometry[] = [];
  const outs: RgbImage[] = [];
  stage.forEach((s, i) => {
    const g = clipGeometricSteps(s, spec);
    outs.push(g.out);
    crops.push({
      index: i,
      view: i === 0 ? 'base' : 'grid',
      gridRow: i === 0 ? -1 : Math.floor((i - 1) / a.cols),
      gridCol: i === 0 ? -1 : (i - 1) % a.cols,
      region: regions[i],
      resize: g.resize,
      centerCrop: g.centerCrop,
      height: g.out.height,
      width: g.out.width,
      toOriginal: composeAffine(stageToOriginal[i], g.toInput),
    });
  });
  return stack(outs, spec, { image, crops, anyres: a });
}
