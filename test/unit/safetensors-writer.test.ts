import { chmod, lstat, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeSafetensors } from '../../src/checkpoint/safetensors-writer.js';

let root: string;
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'aeb-st-writer-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

const headerOf = (bytes: Buffer) => JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));

describe('writeSafetensors', () => {
  it('replaces an existing file whole: a reader of the old file keeps the old bytes, no partial file remains', async () => {
    const path = join(root, 'model.safetensors');
    await writeSafetensors(path, [{ name: 'old', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) }]);
    const reader = await open(path, 'r');
    try {
      await writeSafetensors(path, [{ name: 'new', dtype: 'F32', shape: [2], data: new Float32Array([5, 6]) }]);
      const old = Buffer.alloc(1024);
      const { bytesRead } = await reader.read(old, 0, old.length, 0);
      expect(Object.keys(headerOf(old.subarray(0, bytesRead)))).toEqual(['old']);
      expect(Object.keys(headerOf(await readFile(path)))).toEqual(['new']);
    } finally {
      await reader.close();
    }
    expect(await readdir(root)).toEqual(['model.safetensors']);
  });

  it('a write that fails at the end (the target is a directory) removes its partial file and names the path', async () => {
    const dir = await mkdtemp(join(root, 'fail-'));
    const path = join(dir, 'model.safetensors');
    await mkdir(path);
    await expect(writeSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]))
      .rejects.toMatchObject({ code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST/), message: expect.stringContaining(`cannot write ${path}: `) });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('through a symlink the link stays and its target is replaced; a replaced file keeps its mode', async () => {
    const dir = await mkdtemp(join(root, 'link-'));
    const real = join(dir, 'real.safetensors');
    const link = join(dir, 'model.safetensors');
    await writeSafetensors(real, [{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
    await chmod(real, 0o640);
    await symlink(real, link);
    await writeSafetensors(link, [{ name: 'b', dtype: 'F32', shape: [1], data: new Float32Array([2]) }]);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(Object.keys(headerOf(await readFile(real)))).toEqual(['b']);
    expect((await stat(real)).mode & 0o777).toBe(0o640);
    expect((await readdir(dir)).sort()).toEqual(['model.safetensors', 'real.safetensors']);
  });
});
