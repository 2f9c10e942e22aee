import { mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { makeDirectory } from '../../src/util/make-directory.js';

let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'aeb-mkdir-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('makeDirectory', () => {
  it('creates missing parents, accepts an existing directory, and tolerates a concurrent creator', async () => {
    const deep = join(root, 'a', 'b', 'c');
    await makeDirectory(deep);
    expect((await stat(deep)).isDirectory()).toBe(true);
    await makeDirectory(deep);
    const shared = join(root, 'x', 'y', 'z');
    await Promise.all([makeDirectory(shared), makeDirectory(join(shared, 'w')), makeDirectory(shared)]);
    expect((await stat(join(shared, 'w'))).isDirectory()).toBe(true);
  });

  it('a file in the way fails with ENOTDIR naming the file', async () => {
    const file = join(root, 'plain');
    await writeFile(file, 'x');
    await expect(makeDirectory(join(file, 'sub', 'dir'))).rejects.toMatchObject({ code: 'ENOTDIR', path: file });
    await expect(makeDirectory(file)).rejects.toMatchObject({ code: 'ENOTDIR', path: file });
  });

  it('a dangling symlink on the way fails naming the link and its missing target; an empty path is refused', async () => {
    const link = join(root, 'dangling');
    await symlink(join(root, 'gone'), link);
    await expect(makeDirectory(join(link, 'results'))).rejects.toMatchObject({
      code: 'ENOENT', message: `ENOENT: ${link} is a symbolic link to a missing target (${join(root, 'gone')})`,
    });
    await expect(makeDirectory('')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  // fs.mkdir(..., { recursive: true }) spins forever on this path in Node 20.
  it.skipIf(process.platform !== 'linux')('a component the kernel refuses (under /proc) fails with its error instead of spinning', async () => {
    await expect(makeDirectory('/proc/aeb-no-such-dir/results')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
