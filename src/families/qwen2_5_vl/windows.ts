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
 * The graph inputs of a plan, in patch rows (a merge unit's m² rows stay together):
 *   patchOrder [N]: the raster patch row at each window-order position (the gather before the blocks);
 *   slots [B * S]: window-order rows laid out as B windows of S = (W·m)² slots, padding slots pointing at row 0;
 *   keyBias [B * S]: 0 for a real slot, -inf for padding (so no query attends to a padding key);
 *   rows [N]: the slot of each window-order row (the gather back after attention);
 *   reverse [N / m²]: argsort(window_index), the merged tokens back to raster order.
 * All indices int64, as ONNX Gather wants them.
 */
export interface WindowInputs {
  patchOrder: BigInt64Array;
  slots: BigInt64Array;
  keyBias: Float32Array;
  rows: BigInt64Array;
  reverse: BigInt64Array;
  windows: number;
  slotsPerWindow: number;
}

/** Slots per padded window: (window_size / merge / patch)² units of merge² patch rows each. */
export function windowSlots(spec: {
  patchSize: number;
  spatialMergeSize: number;
  windowSize: number;
}): number {
  const W = Math.floor(spec.windowSize / spec.spatialMergeSize / spec.patchSize);
  return W * W * spec.spatialMergeSize ** 2;
}

export function windowGraphInputs(
  plan: WindowPlan,
  spec: { patchSize: number; spatialMergeSize: number; windowSize: number },
): WindowInputs {
  const m = spec.spatialMergeSize;
  const u = m * m;
  const S = windowSlots(spec);
  const n = plan.unitOrder.length;
  const patchOrder = new BigInt64Array(n * u);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < u; j++) patchOrder[i * u + j] = BigInt(plan.unitOrder[i] * u + j);
  }
  const B = plan.cuWindowSeqlens.length - 1;
  const slots = new BigInt64Array(B * S); // padding slots read row 0
  const keyBias = new Float32Array(B * S).fill(-Infinity);
  const rows = new BigInt64Array(n * u);
  for (let b = 0; b < B; b++) {
    const [from, to] = [plan.cuWindowSeqlens[b], plan.cuWindowSeqlens[b + 1]];
    for (let r = from; r < to; r++) {
      const slot = b * S + (r - from);
      slots[slot] = BigInt(r);
      keyBias[slot] = 0;
      rows[r] = BigInt(slot);
    }
  }
  const reverse = BigInt64Array.from(plan.reverse, (v) => BigInt(v));
  return { patchOrder, slots, keyBias, rows, reverse, windows: B, slotsPerWindow: S };
}
