/**
 * Qwen2.5-VL's window attention plan for one image: index arithmetic only (the model math stays in the ONNX graph).
 * Mirrors transformers 5.x models/qwen2_5_vl/modeling_qwen2_5_vl.py Qwen2_5_VisionTransformerPretrainedModel
 * .get_window_index and .forward:
 *   - the merged grid (gh/m x gw/m units, raster order) is padded to whole windows of W = window_size / m / p units
 *     per side (pad = W - n % W, so a side that is a multiple of W gets one whole empty window row/column);
 *   - units are ordered by (window row, window col, row in window, col in window), skipping the padding:
 *     window_index[i] = the raster unit at window-order position i; a unit's m*m patch rows move together;
 *   - cu_window_seqlens counts patches per window, cumulatively; empty windows vanish (unique_consecutive);
 *   - after the merger, features[argsort(window_index)] puts the tokens back in raster order.
 */

export interface WindowPlan {
  /** Merged-grid size (units). */
  unitRows: number;
  unitCols: number;
  /** window_index: [units], raster unit at each window-order position. */
  unitOrder: Int32Array;
  /** argsort(window_index): [units], window-order position of each raster unit. */
  reverse: Int32Array;
  /** The (non-empty) window of each window-order unit, numbered in window order: [units]. */
  unitWindow: Int32Array;
  /** cu_window_seqlens in patch rows: [windows + 1], starting at 0. */
  cuWindowSeqlens: number[];
  /**
   * Windows per side, ceil(units / W). HF's num_windows_h / _w count one more where the side is a multiple of W (a
   * whole window of padding, empty, dropped by unique_consecutive).
   */
  windowsH: number;
  windowsW: number;
}

/** The window plan of a grid of gh x gw patches (t = 1). */
export function windowPlan(
  grid: { h: number; w: number },
  spec: { patchSize: number; spatialMergeSize: number; windowSize: number },
): WindowPlan {
  const m = spec.spatialMergeSize;
  const W = Math.floor(spec.windowSize / m / spec.patchSize); // vit_merger_window_size
  const R = grid.h / m;
  const C = grid.w / m;
  const windowsH = Math.ceil(R / W);
  const windowsW = Math.ceil(C / W);
  const n = R * C;
  const unitOrder = new Int32Array(n);
  const unitWindow = new Int32Array(n);
  const cu = [0];
  let pos = 0;
  let win = 0;
  for (let wr = 0; wr < windowsH; wr++) {
    for (let wc = 0; wc < windowsW; wc++) {
      const start = pos;
      for (let r = wr * W; r < Math.min(R, (wr + 1) * W); r++) {
        for (let c = wc * W; c < Math.min(C, (wc + 1) * W); c++) {
          unitOrder[pos] = r * C + c;
          unitWindow[pos] = win;
          pos++;
        }
      }
      if (pos > start) {
        cu.push(pos * m * m);
        win++;
      }
    }
  }
  const reverse = new Int32Array(n);
  unitOrder.forEach((u, i) => (reverse[u] = i));
  return {
    unitRows: R,
    unitCols: C,
    unitOrder,
    reverse,
    unitWindow,
    cuWindowSeqlens: cu,
    windowsH,
    windowsW,
  };
}

/**
 * The graph inputs of a plan: the patch rows in window order ([N]; unit u's rows 4u..4u+3 stay together), the window of
 * each of those rows ([N]; the graph turns it into the block-diagonal attention mask) and the reverse permutation of the
 * merged tokens ([N / m²]). All int64, as ONNX Gather wants them.
 */
export function windowGraphInputs(
  plan: WindowPlan,
  mergeSize: number,
): { patchOrder: BigInt64Array; patchWindow: BigInt64Array; reverse: BigInt64Array } {
  const u = mergeSize * mergeSize;
  const n = plan.unitOrder.length;
  const patchOrder = new BigInt64Array(n * u);
  const patchWindow = new BigInt64Array(n * u);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < u; j++) {
      patchOrder[i * u + j] = BigInt(plan.unitOrder[i] * u + j);
      patchWindow[i * u + j] = BigInt(plan.unitWindow[i]);
    }
  }
  return { patchOrder, patchWindow, reverse: BigInt64Array.from(plan.reverse, (v) => BigInt(v)) };
}
