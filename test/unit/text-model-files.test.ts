import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tokenizerDirFor } from '../../src/text/model-files.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aeb-model-files-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('tokenizerDirFor', () => {
  it('a checkpoint directory is its own tokenizer directory', async () => {
    expect(await tokenizerDirFor(root)).toBe(root);
  });

  it('a TorchScript file uses its sidecar tokenizer_dir, relative to the file', async () => {
    const dir = join(root, 'ts1');
    await mkdir(dir);
    await writeFile(join(dir, 'model.pt'), 'x');
    await writeFile(join(dir, 'model.pt.json'), JSON.stringify({ tokenizer_dir: '../tok', eos_token_id: 2 }));
    expect(await tokenizerDirFor(join(dir, 'model.pt'))).toBe(join(root, 'tok'));
  });

  it('falls back to aeb.json beside the file, then to the file directory', async () => {
    const dir = join(root, 'ts2');
    await mkdir(dir);
    await writeFile(join(dir, 'model.pt'), 'x');
    expect(await tokenizerDirFor(join(dir, 'model.pt'))).toBe(dir);
    await writeFile(join(dir, 'aeb.json'), JSON.stringify({ tokenizer_dir: '/abs/tokenizer' }));
    expect(await tokenizerDirFor(join(dir, 'model.pt'))).toBe('/abs/tokenizer');
  });

  it('names a malformed sidecar', async () => {
    const dir = join(root, 'ts3');
    await mkdir(dir);
    await writeFile(join(dir, 'model.pt'), 'x');
    await writeFile(join(dir, 'model.pt.json'), '{"tokenizer_dir": 3}');
    await expect(tokenizerDirFor(join(dir, 'model.pt'))).rejects.toThrow(/model\.pt\.json: tokenizer_dir must be a non-empty string/);
    await writeFile(join(dir, 'model.pt.json'), '[1, 2');
    await expect(tokenizerDirFor(join(dir, 'model.pt'))).rejects.toThrow(/model\.pt\.json: not a JSON object/);
  });
});
