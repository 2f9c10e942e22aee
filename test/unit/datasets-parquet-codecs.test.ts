// Parquet datasets as other tools write them: every common compression codec reads back to the
// same prompts. Files are written with hyparquet-writer, its pages compressed by real encoders
// (Node's zlib for GZIP and Brotli, the zstd command for ZSTD, the writer's own Snappy).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDataset } from '../../src/datasets/load.js';
import { haveCommand } from '../helpers/have-command.js';

const TEXTS = Array.from({ length: 300 }, (_, i) => `Prompt ${i}: explain why the sky looks ${i % 2 ? 'blue' : 'red'} at ${i} o'clock — é 世界`);

const zstd = (bytes: Uint8Array): Uint8Array => new Uint8Array(execFileSync('zstd', ['-q', '-c', '-3'], { input: bytes }));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-parquet-codecs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codecs = [
  { codec: 'UNCOMPRESSED', compress: null },
  { codec: 'SNAPPY', compress: null },
  { codec: 'GZIP', compress: (b: Uint8Array) => new Uint8Array(gzipSync(b)) },
  { codec: 'BROTLI', compress: (b: Uint8Array) => new Uint8Array(brotliCompressSync(b)) },
  // Needs the zstd command (Node 20's zlib has no ZSTD encoder); CI installs it.
  { codec: 'ZSTD', compress: haveCommand('zstd') ? zstd : undefined },
] as const;

for (const { codec, compress } of codecs) {
  it.skipIf(compress === undefined)(`a ${codec} Parquet file reads back to the prompts written`, async () => {
    const filename = join(dir, `${codec}.parquet`);
    parquetWriteFile({
      filename,
      columnData: [
        { name: 'id', data: TEXTS.map((_, i) => i), type: 'INT32' },
        { name: 'text', data: TEXTS, type: 'STRING' },
      ],
      codec,
      ...(compress ? { compressors: { [codec]: compress } } : {}),
      rowGroupSize: 128, // several row groups
    });
    const d = await loadDataset({ source: filename });
    expect(d.prompts.map((p) => p.text)).toEqual(TEXTS);
  });
}
