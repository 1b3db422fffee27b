/**
 * The lens methods, one row each: the one table the CLI (--method and its --help), the server's validation and
 * /api/models, the web page's <select> and the HTML export's labels, the JSON result docs and the conformance suite
 * read, and that src/lens/lens.ts runs. Adding a method is one row here (and its score graph in src/lens/graphs.ts
 * when it needs a new one).
 * The measures mirror `similarvec.py` of pifanpi/visualizing-vlm-tokens @ 7cfa832e8e4e585c490c33d364d46bbfed866a10
 * (SimilarityEngine) and, for the logit lens, the text model's final norm and output head (src/lens/graphs.ts).
 * This module imports nothing, so src/types.ts can re-export its types.
 */

/** The score graphs (src/lens/graphs.ts): `corr` is OMP's atom choice; `dot` also serves the logit lens. */
export type ScoreKind = 'dot' | 'cosine' | 'l2' | 'corr';

/** Which vocabulary matrix a method compares with. */
export type LensMatrixName = 'embed_tokens' | 'lm_head';

export interface LensMethodRow {
  name: string;
  /** Short human name (the page's <select>). */
  label: string;
  /** One line: what the score is (--help, the docs). */
  description: string;
  matrix: LensMatrixName;
  /**
   * How a token's words are found: `score` ranks every vocabulary row by a score graph; `omp` builds a sparse code
   * of k rows (orthogonal matching pursuit; `newestOnly`: the original tool's variant that refits only the newest atom).
   */
  run:
    | { kind: 'score'; score: Exclude<ScoreKind, 'corr'>; finalNorm: boolean }
    | { kind: 'omp'; newestOnly: boolean };
}

export const LENS_METHOD_TABLE = [
  {
    name: 'cosine',
    label: 'cosine similarity',
    description: 'cos(t, e) with every input embedding',
    matrix: 'embed_tokens',
    run: { kind: 'score', score: 'cosine', finalNorm: false },
  },
  {
    name: 'dot',
    label: 'dot product',
    description: 't·e with every input embedding',
    matrix: 'embed_tokens',
    run: { kind: 'score', score: 'dot', finalNorm: false },
  },
  {
    name: 'l2',
    label: 'L2 distance',
    description: '−‖t − e‖ / √hidden to every input embedding (the original tool’s expanded form)',
    matrix: 'embed_tokens',
    run: { kind: 'score', score: 'l2', finalNorm: false },
  },
  {
    name: 'omp',
    label: 'OMP (sparse code)',
    description: 'orthogonal matching pursuit: k input embeddings and their least-squares coefficients',
    matrix: 'embed_tokens',
    run: { kind: 'omp', newestOnly: false },
  },
  {
    name: 'ompp',
    label: 'OMP, newest atom only',
    description: 'the original tool’s OMP variant that refits only the newest atom’s coefficient',
    matrix: 'embed_tokens',
    run: { kind: 'omp', newestOnly: true },
  },
  {
    name: 'logit',
    label: 'logit lens (final norm + LM head)',
    description: 'the logit lens: the text model’s final RMSNorm, then the output head',
    matrix: 'lm_head',
    run: { kind: 'score', score: 'dot', finalNorm: true },
  },
  {
    name: 'logit-raw',
    label: 'LM head, no norm',
    description: 'the output head applied to the token as it is',
    matrix: 'lm_head',
    run: { kind: 'score', score: 'dot', finalNorm: false },
  },
] as const satisfies readonly LensMethodRow[];

export type LensMethod = (typeof LENS_METHOD_TABLE)[number]['name'];
export const LENS_METHODS: readonly LensMethod[] = LENS_METHOD_TABLE.map((m) => m.name);

/**
 * The one default for every entry point (CLI, server, web page, library callers that want one): OMP with k = 1,
 * one word per token, the original tool's method. With k = 1 it costs one correlation pass (as cheap as cosine),
 * and its word is the embedding that best explains the token, where cosine is often drawn to special tokens.
 */
export const DEFAULT_METHOD: LensMethod = 'omp';
export const DEFAULT_K = 1;

/** The row of a method name (undefined for an unknown name). */
export function lensMethod(name: string): LensMethodRow | undefined {
  return (LENS_METHOD_TABLE as readonly LensMethodRow[]).find((m) => m.name === name);
}

export function isLensMethod(name: string): name is LensMethod {
  return lensMethod(name) !== undefined;
}
