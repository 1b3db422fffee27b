/** Shape helpers: write shapes down and check them at boundaries, with errors that say expected vs got. */

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Throws when `got` differs from `expected`. A `-1` in `expected` matches any size.
 * `makeError` lets callers pick the error class (e.g. MissingTensorError for checkpoint tensors).
 */
export function checkShape(
  name: string,
  got: Shape,
  expected: Shape,
  makeError: (msg: string) => Error = (m) => new Error(m),
): void {
  const ok = got.length === expected.length && expected.every((d, i) => d === -1 || d === got[i]);
  if (!ok) throw makeError(`${name}: expected shape ${shapeStr(expected)}, got ${shapeStr(got)}`);
}
