/** The lens: image-token vectors → nearest vocabulary entries, by the methods of src/lens-methods.ts. */
export {
  DEFAULT_K,
  DEFAULT_METHOD,
  isLensMethod,
  LENS_METHOD_TABLE,
  LENS_METHODS,
  lensMethod,
  type LensMethod,
  type LensMethodRow,
} from '../lens-methods.js';
export { Lens, type LensCreateOptions, type LensEngine, type LensMatrix, type NormKind } from './lens.js';
export { LensThread, type LensThreadInit } from './thread.js';
export { runOmp, type OmpInput, type OmpResult, type Correlate, type FetchRows } from './omp.js';
export {
  buildProjectGraph,
  buildScoreGraph,
  buildRmsNormGraph,
  type ProjectMatrix,
  type ScoreKind,
} from './graphs.js';
