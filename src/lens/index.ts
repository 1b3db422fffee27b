/** The lens: image-token vectors → nearest vocabulary entries (cosine, dot, l2, omp, ompp, logit, logit-raw). */
export { Lens, type LensCreateOptions, type LensMatrix, type NormKind } from './lens.js';
export { runOmp, type OmpInput, type OmpResult, type Correlate, type FetchRows } from './omp.js';
export {
  buildProjectGraph,
  buildScoreGraph,
  buildRmsNormGraph,
  type ProjectMatrix,
  type ScoreKind,
} from './graphs.js';
