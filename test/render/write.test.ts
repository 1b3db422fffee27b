// Atomic writes: a failed write raises a clear BadInputError and leaves neither a partial target nor a temp file.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BadInputError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/render/write.js';

describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgtokens-write-'));

  it('replaces a file whole and leaves no temp file', async () => {
    const file = join(dir, 'out.png');
    writeFileSync(file, 'old content that is longer than the new one');
    await writeFileAtomic(file, Buffer.from('new'));
    assert.equal(readFileSync(file, 'utf8'), 'new');
    assert.deepEqual(readdirSync(dir), ['out.png']);
  });

  it('fails cleanly when the target is a folder (the temp file was written, then removed)', async () => {
    const sub = join(dir, 'a-folder');
    mkdirSync(sub);
    await assert.rejects(writeFileAtomic(sub, 'x'.repeat(100000)), (e: unknown) => {
      assert.ok(e instanceof BadInputError);
      assert.match(e.message, /cannot write .*a-folder: EISDIR/);
      assert.match(e.hint ?? '', /folder/);
      return true;
    });
    assert.deepEqual(readdirSync(sub), []);
    assert.deepEqual(readdirSync(dir).sort(), ['a-folder', 'out.png']);
  });

  it('fails cleanly when the folder does not exist or is a file', async () => {
    await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x.png'), 'x'), /cannot write .*ENOENT/);
    await assert.rejects(writeFileAtomic(join(dir, 'out.png', 'x.png'), 'x'), /cannot write .*ENOTDIR/);
    assert.deepEqual(readdirSync(dir).sort(), ['a-folder', 'out.png']);
    assert.equal(readFileSync(join(dir, 'out.png'), 'utf8'), 'new');
  });
});
