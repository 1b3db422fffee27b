/**
 * LLaVA-OneVision (`model_type: llava_onevision`): a SigLIP tower read at hidden_states[-1] (no post_layernorm), all
 * tokens kept ('full'), the LLaVA projector, and anyres over a pinpoint grid of square crops: the base view (the whole
 * image squashed to a square, no newline after it), then the grid crops' feature map un-padded to the image's aspect
 * ratio, bilinearly down-sampled when larger than about N crops (`anyres_max_N`), with one newline token per row.
 * Mirrors transformers v4.45.1 (e71a01a104dd663c730e494eb0b6467bb51df357) models/llava_onevision/configuration_llava_onevision.py
 * (defaults), modeling_llava_onevision.py (get_image_features via hidden_states[vision_feature_layer], pack_image_features)
 * and image_processing_llava_onevision.py (./processor.ts).
 */
import { ConfigReader, type Json } from '../../config/reader.js';
import { MissingTensorError, UnsupportedModelError } from '../../errors.js';
import type { AnyresProcessorSpec } from '../../image/anyres.js';
import { parseWith, type PreprocessResult } from '../../image/processor.js';
import { anyresGridShape, anyresLayout, type LayoutOptions, type PatchGrid } from '../../layout/layout.js';
import { resolveTextTensors } from '../../text/tensors.js';
import type { TokenLayout } from '../../types.js';
import { checkShape } from '../../util/shape.js';
import {
  checkCropSize,
  imageNewlineTensor,
  LLAVA_TEXT_NAMING,
  patchGrid,
  visionSpec,
} from '../llava/index.js';
import { buildLlavaVisionGraph, llavaVisionTensorNames } from '../llava/vision.js';
import { parseLlavaNextConfig, type LlavaNextConfig } from '../llava_next/config.js';
import { pixelInputs, type Family, type LoadedFamily } from '../types.js';
import { ONEVISION_DEFAULT_PINPOINTS, ONEVISION_PROCESSOR } from './processor.js';

/**
 * LlavaOnevisionConfig.__init__ defaults, applied before the shared LLaVA-NeXT parser (whose own defaults are
 * LLaVA's): an absent vision_config is SiglipVisionConfig(intermediate 4096, hidden 1024, patch 14, image 336, 24 layers,
 * 16 heads) (LLaVA's CLIP-L sizes, as written in 4.45; real checkpoints always write theirs), a dict without model_type is
 * a siglip_vision_model; text_config qwen2; feature layer -1, strategy 'full', vision_aspect_ratio 'anyres_max_9', the
 * 384-grid pinpoints, image_token_index 151646.
 */
export const ONEVISION_DEFAULT_VISION: Json = {
  model_type: 'siglip_vision_model',
  intermediate_size: 4096,
  hidden_size: 1024,
  patch_size: 14,
  image_size: 336,
  num_hidden_layers: 24,
  num_attention_heads: 16,
};

export interface LlavaOnevisionConfig extends LlavaNextConfig {
  /** N of vision_aspect_ratio "anyres_max_N". */
  anyresMax: number;
}

export function parseLlavaOnevisionConfig(r: ConfigReader): LlavaOnevisionConfig {
  const raw = r.raw;
  const vision = raw['vision_config'];
  const text = raw['text_config'];
  const withDefaults: Json = {
    vision_feature_layer: -1,
    vision_feature_select_strategy: 'full',
    image_grid_pinpoints: ONEVISION_DEFAULT_PINPOINTS,
    image_token_index: 151646,
    ...raw,
    vision_config:
      vision && typeof vision === 'object'
        ? { model_type: 'siglip_vision_model', ...(vision as Json) }
        : ONEVISION_DEFAULT_VISION,
    text_config:
      text && typeof text === 'object' ? { model_type: 'qwen2', ...(text as Json) } : { model_type: 'qwen2' },
  };
  const base = parseLlavaNextConfig(new ConfigReader(withDefaults, r.where));
  // pack_image_features: int(vision_aspect_ratio.strip("anyres_max_")); str.strip removes a character SET from both ends.
  const aspect = r.str('vision_aspect_ratio', 'anyres_max_9');
  const stripped = aspect.replace(/^[anyres_max]+/, '').replace(/[anyres_max]+$/, '');
  const anyresMax = Number(stripped);
  if (!/^\d+$/.test(stripped) || anyresMax <= 0) {
    throw new UnsupportedModelError(`${r.where}: vision_aspect_ratio "${aspect}" is not supported`, {
      hint: 'LLaVA-OneVision images use "anyres_max_<N>" (e.g. anyres_max_9)',
    });
  }
  return { ...base, anyresMax };
}

/**
 * Bilinear resize of a [inH, inW, D] map to [outH, outW, D], as torch.nn.functional.interpolate(mode="bilinear",
 * align_corners=False, antialias=False) computes it on the CPU in float32 (aten/src/ATen/native/UpSample.h
 * area_pixel_compute_scale / area_pixel_compute_source_index and cpu/UpSampleKernel.cpp, torch 1.13): scale = in / out
 * in float32, src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1), l1 = src - i0,
 * l0 = 1 - l1, out = (x00 l0w + x01 l1w) l0h + (x10 l0w + x11 l1w) l1h, every step rounded to float32.
 * A 4-tap blend per value (no matrix product); it reproduces torch to float32 rounding (the fixtures README allows 5e-6).
 */
export function bilinearResize(
  map: Float32Array,
  inH: number,
  inW: number,
  dim: number,
  outH: number,
  outW: number,
): Float32Array {
  checkShape('bilinearResize input', [map.length], [inH * inW * dim]);
  const f = Math.fround;
  const taps = (inSize: number, outSize: number) => {
    const scale = f(inSize / outSize);
    return Array.from({ length: outSize }, (_, o) => {
      const src = Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = Math.min(Math.max(f(src - i0), 0), 1);
      return { i0, i1, l0: f(1 - l1), l1 };
    });
  };
  const ty = taps(inH, outH);
  const tx = taps(inW, outW);
  const out = new Float32Array(outH * outW * dim); // [outH, outW, D]
  for (let y = 0; y < outH; y++) {
    const { i0: y0, i1: y1, l0: wy0, l1: wy1 } = ty[y];
    for (let x = 0; x < outW; x++) {
      const { i0: x0, i1: x1, l0: wx0, l1: wx1 } = tx[x];
      const a = (y0 * inW + x0) * dim;
      const b = (y0 * inW + x1) * dim;
      const c = (y1 * inW + x0) * dim;
      const d = (y1 * inW + x1) * dim;
      const o = (y * outW + x) * dim;
      for (let k = 0; k < dim; k++) {
        const top = f(f(map[a + k] * wx0) + f(map[b + k] * wx1));
        const bottom = f(f(map[c + k] * wx0) + f(map[d + k] * wx1));
        out[o + k] = f(f(top * wy0) + f(bottom * wy1));
      }
    }
  }
  return out;
}

/**
 * pack_image_features for one image: the un-padded grid map gathered from the crops ([h, w, D], raster order), resized
 * when the layout says so, then the layout's tokens in order (base rows of crop 0, grid cells, newline vectors).
 */
export function packOnevision(
  cropFeatures: Float32Array,
  pre: PreprocessResult,
  layout: TokenLayout,
  grid: PatchGrid,
  hidden: number,
  newline: Float32Array,
  opts: LayoutOptions,
): Float32Array {
  const a = pre.geometry.anyres!;
  const perCrop = grid.rows * grid.cols;
  checkShape('crop features', [cropFeatures.length], [pre.shape[0] * perCrop * hidden]);
  checkShape('image_newline', [newline.length], [hidden], (m) => new MissingTensorError(m));
  const shape = anyresGridShape(pre.geometry, grid, opts);
  const { keep } = shape;
  const h = keep.bottom - keep.top;
  const w = keep.right - keep.left;
  let map: Float32Array = new Float32Array(h * w * hidden); // [h, w, D]
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const gr = keep.top + r;
      const gc = keep.left + c;
      const crop = 1 + Math.floor(gr / grid.rows) * a.cols + Math.floor(gc / grid.cols);
      const src = (crop * perCrop + (gr % grid.rows) * grid.cols + (gc % grid.cols)) * hidden;
      map.set(cropFeatures.subarray(src, src + hidden), (r * w + c) * hidden);
    }
  }
  if (shape.interpolated) map = bilinearResize(map, h, w, hidden, shape.rows, shape.cols);
  const out = new Float32Array(layout.tokens.length * hidden); // [tokens, hidden]
  for (const [t, tok] of layout.tokens.entries()) {
    let from: Float32Array;
    if (tok.kind === 'newline') from = newline;
    else if (tok.view === 'base')
      from = cropFeatures.subarray(tok.source * hidden, (tok.source + 1) * hidden);
    else
      from = map.subarray(
        (tok.row * shape.cols + tok.col) * hidden,
        (tok.row * shape.cols + tok.col + 1) * hidden,
      );
    out.set(from, t * hidden);
  }
  return out;
}

export const llavaOnevision: Family = {
  modelType: 'llava_onevision',
  label: 'LLaVA-OneVision',
  exampleHubId: 'llava-hf/llava-onevision-qwen2-0.5b-ov-hf',
  viewsDescription:
    'base: the whole image squashed to a square (27x27 at 384 px), no newline; grid: the square crops of the pinpoint grid, un-padded, bilinearly down-sampled to about 9 crops (anyres_max_9), a newline token after each row',
  processors: [ONEVISION_PROCESSOR],
  load({ config, preprocessor, index, where }): LoadedFamily {
    const cfg = parseLlavaOnevisionConfig(config);
    const notices: string[] = [];
    const s = cfg.vision.imageSize;
    const raw: Json = preprocessor ?? {
      size: { height: s, width: s },
      image_grid_pinpoints: cfg.gridPinpoints,
    };
    if (!preprocessor)
      notices.push(
        `${where}: no preprocessor_config.json; using LlavaOnevisionImageProcessor defaults at ${s}px`,
      );
    const proc = parseWith(
      raw,
      `${where}/preprocessor_config.json`,
      llavaOnevision.processors,
      ONEVISION_PROCESSOR.type,
      'a llava_onevision model',
    ) as AnyresProcessorSpec;
    checkCropSize(proc, cfg, where);
    if (cfg.vision.modelType !== 'siglip_vision_model' || cfg.strategy !== 'full') {
      throw new UnsupportedModelError(
        `${where}/config.json: llava_onevision with a ${cfg.vision.modelType} tower and strategy "${cfg.strategy}" is not supported`,
        { hint: 'LLaVA-OneVision checkpoints use a SigLIP tower with vision_feature_select_strategy "full"' },
      );
    }
    const text = resolveTextTensors(index, cfg.text, where, {
      naming: LLAVA_TEXT_NAMING,
      declaredTie: cfg.topLevelTie ?? cfg.text.tieWordEmbeddings,
    });
    const newlineName = imageNewlineTensor(index, cfg.text.hiddenSize, where, 'llava_onevision');
    const vspec = visionSpec(cfg);
    const grid = patchGrid(cfg);
    const perCrop = grid.rows * grid.cols;
    const opts: LayoutOptions = { newline: true, anyresMax: cfg.anyresMax };
    return {
      modelType: 'llava_onevision',
      views: ['base', 'grid'],
      text: text.spec,
      notices: [...notices, ...text.notices],
      visionTensorNames: () => llavaVisionTensorNames(vspec, index, where),
      extraTensorNames: () => [newlineName],
      buildVisionGraph: (tensors) => buildLlavaVisionGraph(vspec, tensors, { where }).model,
      processor: proc,
      visionInputs: (pre) => pixelInputs(pre, perCrop),
      layout: (pre) => anyresLayout(pre.geometry, grid, opts),
      pack: (cropFeatures, pre, layout, extra) =>
        packOnevision(cropFeatures, pre, layout, grid, cfg.text.hiddenSize, extra.get(newlineName)!, opts),
    };
  },
};
