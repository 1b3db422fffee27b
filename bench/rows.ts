/** The row types every bench section shares (bench.ts makes them, the sections fill them). */

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

export interface StageRow {
  model: string;
  stage: string;
  timing: Timing | null;
  /** FLOPs of one run of the stage (null where it is not compute-bound). */
  flops: number | null;
  gflops: number | null;
  ofPeak: number | null;
  /** Fraction of the BLAS peak (numpy), when python3 + numpy ran. */
  ofBlas: number | null;
  note?: string;
}
