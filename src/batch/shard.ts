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

export function parseShard(v: string): Shard {
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
