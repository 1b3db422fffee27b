/**
 * `--shard i/n`: splits one list of images across n independent jobs. An image belongs to shard
 * 1 + (first 4 bytes of sha256(path) mod n), so the split depends only on the path string, never on the order,
 * the other paths or the machine, and every image lands in exactly one shard. Shards are numbered 1..n (as
 * Playwright's and Jest's --shard).
 */
import { createHash } from 'node:crypto';
import { BadInputError } from '../errors.js';

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/**
 * `i/n`, or `auto`: the Kubernetes Indexed Job's JOB_COMPLETION_INDEX (0-based) and JOB_COMPLETIONS (the pod
 * spec passes the latter from `spec.completions`), so every pod of the Job takes its own shard.
 */
export function parseShard(v: string, env: NodeJS.ProcessEnv = process.env): Shard {
  if (v.trim() === 'auto') {
    const i = env.JOB_COMPLETION_INDEX;
    const n = env.JOB_COMPLETIONS;
    if (
      i === undefined ||
      n === undefined ||
      !/^\d+$/.test(i) ||
      !/^\d+$/.test(n) ||
      Number(i) >= Number(n)
    ) {
      throw new BadInputError(
        `--shard auto needs JOB_COMPLETION_INDEX (0-based) < JOB_COMPLETIONS in the environment; got ${JSON.stringify(i ?? null)} and ${JSON.stringify(n ?? null)}`,
        { hint: 'run it in a Kubernetes Indexed Job (see deploy/batch-job.yaml), or give --shard i/n' },
      );
    }
    return { index: Number(i) + 1, count: Number(n) };
  }
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw new BadInputError(`--shard must be i/n with 1 <= i <= n (e.g. 1/4), got "${v}"`, {
      hint: 'shards are numbered from 1; run the same command with 1/n, 2/n, ... n/n on each machine',
    });
  }
  return { index, count };
}

/** The 1-based shard of `path` among `count` shards. */
export function shardOf(path: string, count: number): number {
  const h = createHash('sha256').update(path).digest();
  return 1 + (h.readUInt32BE(0) % count);
}

export function inShard(path: string, shard: Shard | undefined): boolean {
  return !shard || shardOf(path, shard.count) === shard.index;
}
