/**
 * A small graph with external data for the session-cache tests (src/runtime/session-cache.test.ts), and a child
 * process that builds it through a cache: node --import tsx test/helpers/session-cache-child.ts <cache> <data dir>
 * prints {"status": ..., "y": [...]} on one line.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/graph/builder.js';
import { Session } from '../../src/runtime/session.js';
import { SessionCache } from '../../src/runtime/session-cache.js';

export const N = 64; // y [2, N] = x [2, N] · W [N, N] (W stored F16 in w.bin, cast in-graph), then + b

/** Writes w.bin (F16 W, then F32 b) into `dir`; deterministic. */
export function writeTestWeights(dir: string): string {
  const w = new Uint16Array(N * N + 2 * N);
  for (let i = 0; i < N * N; i++) w[i] = 0x3000 + ((i * 2654435761) % 0x0800); // F16 in [0.125, 0.25)
  const b = new Float32Array(w.buffer, N * N * 2, N);
  for (let i = 0; i < N; i++) b[i] = i / N;
  const path = join(dir, 'w.bin');
  writeFileSync(path, new Uint8Array(w.buffer));
  return path;
}

export function testGraph(): Uint8Array {
  const g = new GraphBuilder({ name: 'session-cache-test' });
  const x = g.input('x', 'float32', [2, N]); // [2, N]
  const w = g.initializer('w', { location: 'w.bin', offset: 0, length: N * N * 2 }, 'F16', [N, N]); // [N, N]
  const b = g.initializer('b', { location: 'w.bin', offset: N * N * 2, length: N * 4 }, 'F32', [N]); // [N]
  g.output(g.add(g.matmul(x, w, 'xw'), b, 'y'), 'y', [2, N]);
  return g.build();
}

export const X = Float32Array.from({ length: 2 * N }, (_, i) => Math.sin(i));

/** Builds the test graph through `cache` and runs it once. */
export async function runThroughCache(
  cache: SessionCache | null,
  dataDir: string,
): Promise<{ session: Session; y: Float32Array }> {
  const session = await Session.create(testGraph(), {
    cache,
    externalDataDir: dataDir,
    externalFiles: [join(dataDir, 'w.bin')],
    cacheLabel: 'test graph',
  });
  const y = (await session.run({ x: { data: X, shape: [2, N] } })).f32('y', [2, N]).data;
  return { session, y };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cacheDir, dataDir] = process.argv.slice(2);
  const { session, y } = await runThroughCache(new SessionCache(cacheDir), dataDir);
  process.stdout.write(`${JSON.stringify({ status: session.cacheStatus, y: [...y] })}\n`);
  await session.release();
}
