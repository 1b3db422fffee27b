/**
 * The RMSNorm variants of the Gemma families, over the last axis, computed in float32:
 *   'onePlus' (Gemma3RMSNorm, GemmaRMSNorm): x · (mean(x²) + eps)^-1/2 · (1 + w), the weight stored zero-centred;
 *   'plain'   (Gemma4RMSNorm with_scale=True, as LlamaRMSNorm): x · (mean(x²) + eps)^-1/2 · w;
 *   'none'    (Gemma4RMSNorm with_scale=False: embedding_pre_projection_norm, v_norm): x · (mean(x²) + eps)^-1/2.
 * transformers 5.12.1 models/gemma3/modeling_gemma3.py (Gemma3RMSNorm._norm: x * torch.rsqrt(x.pow(2).mean(-1,
 * keepdim=True) + self.eps), then output * (1.0 + self.weight.float())) and models/gemma4/modeling_gemma4.py
 * (Gemma4RMSNorm: the same _norm, times weight when with_scale). Opset 17 has no RMSNormalization, so it is
 * written out; `1 + w` is added in-graph (one Add on a [dim] vector) so the stored bytes stay as they are.
 * The 1/sqrt here and torch's rsqrt differ by float rounding only (< 1e-6 relative).
 */
import type { GraphBuilder, Value } from './builder.js';
import type { Weights } from './weights.js';

export type RmsScale = 'onePlus' | 'plain' | 'none';

/** x [..., dim] -> [..., dim]; `w` holds `weight` [dim] unless scale is 'none' (then it may be null). */
export function gemmaRmsNorm(
  g: GraphBuilder,
  w: Weights | null,
  x: Value,
  dim: number,
  eps: number,
  scale: RmsScale,
  name: string,
): Value {
  const ms = g.reduce('ReduceMean', g.mul(x, x, `${name}.sq`), [-1], { name: `${name}.mean_sq` }); // [..., 1]
  const inv = g.div(1, g.sqrt(g.add(ms, eps, `${name}.var_eps`), `${name}.rms`), `${name}.inv_rms`); // [..., 1]
  if (scale === 'none') return g.mul(x, inv, name); // [..., dim]
  if (!w) throw new Error(`${name}: an RMSNorm with a scale needs its weight`);
  const weight = w.get('weight', [dim]); // [dim]
  const factor = scale === 'onePlus' ? g.add(weight, 1, `${name}.one_plus_w`) : weight; // [dim]
  return g.mul(g.mul(x, inv, `${name}.normed`), factor, name); // [..., dim]
}
