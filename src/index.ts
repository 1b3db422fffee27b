/**
 * The package entry (`import ... from 'imgtokens'`): load a model once, then encode and analyse many images with
 * it (and run the deep lens: Model.deep, analyze's `deep` option); the result, feature and layout types; the lens-method table and its defaults; the renderers; the errors.
 * package.json's main/exports/types point at the compiled form of this file (dist/index.js, dist/index.d.ts).
 */
export { loadModel, Model, type PreparedImage } from './model.js';
export type {
  DeepOptions,
  DeepResult,
  Device,
  EncodeOptions,
  ImgTokensModel,
  LoadOptions,
  ModelInfo,
} from './api.js';
export { DEEP_DEFAULT_K } from './model.js';
export { parseLayers } from './llm/deep.js';
export { DEFAULT_QUESTION } from './llm/prompt.js';
export type {
  Box,
  DeepJson,
  DeepLayerJson,
  ExcludeKind,
  ImageFeatures,
  ImageInput,
  LayoutToken,
  LensOptions,
  ResultJson,
  RgbImage,
  TokenKind,
  TokenLayout,
  TopK,
  ViewInfo,
  ViewName,
  WordScore,
} from './types.js';
export { VIEW_NAMES } from './types.js';
export {
  DEFAULT_K,
  DEFAULT_METHOD,
  LENS_METHOD_TABLE,
  LENS_METHODS,
  lensMethod,
  type LensMethod,
  type LensMethodRow,
} from './lens-methods.js';
export type { ProgressCallback, ProgressEvent } from './progress.js';
export { FAMILIES, type Family } from './families/index.js';
export {
  renderPng,
  renderHtml,
  serializeResult,
  parseResult,
  validateResult,
  wordsGrid,
  serializeWords,
  validateWordsGrid,
  textGrid,
  RESULT_SCHEMA,
  RESULT_SCHEMA_DEEP,
  type PngOptions,
  type HtmlOptions,
  type SaveWordsOptions,
  type TextGridOptions,
} from './render/index.js';
export * from './errors.js';
