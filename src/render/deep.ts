/**
 * The deep lens (ResultJson.deep, issue 12) for the static renderers: `resultAtLayer` turns a result into the same
 * result with every token's top-k replaced by one chosen layer's logit- or embedding-lens top-k, so the PNG and
 * terminal renderers draw a layer exactly as they draw the projector-level words.
 */
import { BadInputError } from '../errors.js';
import type { DeepJson, ResultJson } from '../types.js';

export type DeepLensName = 'logit' | 'embed';

/** The chosen layer entry of `deep`, or a BadInputError that lists the layers the result has. */
function findLayer(deep: DeepJson, layer: number): DeepJson['layers'][number] {
  const l = deep.layers.find((x) => x.layer === layer);
  if (!l) {
    const have = deep.layers.map((x) => x.layer);
    const list = have.length > 12 ? `${have.slice(0, 12).join(', ')}, …` : have.join(', ');
    throw new BadInputError(`layer ${layer} is not in this result's deep lens (it has layers ${list})`, {
      hint: `pick one of them, or rerun with --layers including ${layer}`,
    });
  }
  return l;
}

/** `result` with token t's top-k taken from layer `layer`'s `lens` (deep row t belongs to tokens[t]). */
export function resultAtLayer(result: ResultJson, layer: number, lens: DeepLensName = 'logit'): ResultJson {
  if (!result.deep) {
    throw new BadInputError('this result has no deep lens, so there is no layer to draw', {
      hint: 'run the analysis with --layers (the deep lens) to draw a layer',
    });
  }
  const rows = findLayer(result.deep, layer)[lens];
  if (rows.length !== result.tokens.length) {
    throw new BadInputError(
      `deep layer ${layer} has ${rows.length} token rows but the result has ${result.tokens.length} tokens`,
    );
  }
  return { ...result, tokens: result.tokens.map((t, i) => ({ ...t, top: rows[i] })) };
}

/** Caption of one layer's panel. */
export function layerTitle(deep: DeepJson, layer: number, lens: DeepLensName): string {
  return `layer ${layer} / ${deep.numLayers} · ${lens === 'logit' ? 'logit lens' : 'embedding lens'}`;
}

/**
 * What the CLI's PNG draws for a result: `--layer N` that layer; else, when the deep lens ran on several layers
 * (`--layers 0,8,16 --save-img sheet.png`), a sheet of every chosen layer; else (one layer, or no deep lens) the
 * projector-level words, as before.
 */
export function deepPngOptions(result: ResultJson, layer?: number): { layer?: number; layers?: number[] } {
  if (layer !== undefined) return { layer };
  const layers = result.deep?.layers.map((l) => l.layer) ?? [];
  return layers.length > 1 ? { layers } : {};
}
