/**
 * Average pooling of a square patch grid to fewer tokens, as Gemma3MultiModalProjector does (transformers 5.12.1
 * models/gemma3/modeling_gemma3.py): [N, P, C] -> transpose -> [N, C, g, g] (patches row-major) ->
 * AvgPool2d(kernel = stride = k) -> flatten -> transpose -> [N, (g/k)², C], tokens in raster order; token (r, c)
 * is the mean of patches [k r, k r + k) x [k c, k c + k). No padding (g is a multiple of k, checked by the caller).
 */
import { attr, type GraphBuilder, type Value } from './builder.js';

export function avgPoolGrid(
  g: GraphBuilder,
  x: Value,
  spec: { grid: number; kernel: number; channels: number },
  name: string,
): Value {
  const { grid, kernel: k, channels: C } = spec;
  if (grid % k !== 0)
    throw new RangeError(`${name}: pool kernel ${k} does not divide the ${grid}x${grid} grid`);
  const t = grid / k;
  const chw = g.transpose(x, [0, 2, 1], `${name}.channels_first`); // [N, C, P]
  const img = g.reshape(chw, [0, C, grid, grid], `${name}.grid`); // [N, C, g, g]
  const [pooled] = g.op(
    'AveragePool',
    [img],
    { kernel_shape: attr.ints([k, k]), strides: attr.ints([k, k]) },
    { name: `${name}.pool` },
  ); // [N, C, t, t]
  const flat = g.reshape(pooled, [0, C, t * t], `${name}.flat`); // [N, C, T]
  return g.transpose(flat, [0, 2, 1], name); // [N, T, C]
}
