/** The lens: image-token vectors → nearest vocabulary entries (cosine, dot, l2, omp, ompp, logit, logit-raw). */
export { Lens, type LensCreateOptions, type NormKind } from './lens.js';
export { runOmp, type OmpInput, type OmpResult, type Correlate } from './omp.js';
export { buildProjectGraph, buildScoreGraph, buildRmsNormGraph, type ScoreKind } from './graphs.js';
