// Regression tests from an adversarial review of the dataset readers and `aeb migrate-csv`.
// Each case is a defect confirmed with real files; every test here failed on the code it was
// written against. The one injected thing is the timing of a lock-less writer (the old Python
// system appends without our lock): `readFile` passes through, except that right after the
// migration reads the results file once, a row is appended to it with the real fs.
import { appendFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadDataset } from '../../src/datasets/load.js';
import { migrateMasterCsv } from '../../src/results/migrate.js';

const race = vi.hoisted(() => ({ file: null as string | null, row: '', fired: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const readFileHooked = (async (...args: Parameters<typeof fs.readFile>) => {
    const out = await fs.readFile(...args);
    if (race.file !== null && args[0] === race.file) {
      appendFileSync(race.file, race.row);
      race.file = null;
      race.fired = true;
    }
    return out;
  }) as typeof fs.readFile;
  return { ...fs, default: { ...fs, readFile: readFileHooked }, readFile: readFileHooked };
});

const FIX = join(import.meta.dirname, '../fixtures/old-system');
const PARQUET = join(FIX, 'text_generation_sample.parquet'); // 12 rows, column `text`
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-ds-review-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A dataset repo in the hub cache layout under HF_HOME=`home`; `files` maps snapshot paths to contents (a Buffer or a file to copy). */
async function hubRepo(home: string, id: string, rev: string, files: Record<string, string | Buffer>, refMain: string | null = rev): Promise<void> {
  const repo = join(home, 'hub', `datasets--${id.replace('/', '--')}`);
  for (const [rel, content] of Object.entries(files)) {
    const target = join(repo, 'snapshots', rev, rel);
    await mkdir(join(target, '..'), { recursive: true });
    if (typeof content === 'string') await copyFile(content, target);
    else await writeFile(target, content);
  }
  if (refMain !== null) {
    await mkdir(join(repo, 'refs'), { recursive: true });
    await writeFile(join(repo, 'refs', 'main'), refMain);
  }
}

const settle = <T>(p: Promise<T>) => p.then((value) => ({ value, error: null }), (error: Error) => ({ value: null, error }));

describe('Hugging Face cache', () => {
  it('reads only the train split when data/ holds train, test and validation shards (as the hub lays them out)', async () => {
    const home = join(dir, 'hf');
    await hubRepo(home, 'org/splits', 'r1', {
      'data/train-00000-of-00002.parquet': PARQUET,
      'data/train-00001-of-00002.parquet': PARQUET,
      'data/test-00000-of-00001.parquet': PARQUET,
      'data/validation-00000-of-00001.parquet': PARQUET,
    });
    const d = await loadDataset({ source: 'org/splits', env: { HF_HOME: home }, allowDownload: false });
    expect(d.files.map((f) => f.split('/snapshots/r1/')[1])).toEqual(['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']);
    expect(d.totalRows).toBe(24);
  });

  it('does not silently read another revision when refs/main names one that is not in snapshots/', async () => {
    const home = join(dir, 'hf');
    await hubRepo(home, 'org/rev', 'older', { 'data/train-00000-of-00001.jsonl': Buffer.from('{"text": "older revision"}\n') }, 'wanted-rev');
    const r = await settle(loadDataset({ source: 'org/rev', env: { HF_HOME: home }, allowDownload: false }));
    expect(r.value?.prompts[0]?.text).toBeUndefined();
    expect(r.error?.message).toMatch(/wanted-rev/);
  });

  it('names a cached dataset whose files it cannot read (.json) instead of calling it "not in the cache"', async () => {
    const home = join(dir, 'hf');
    await hubRepo(home, 'org/json', 'r1', { 'train.json': Buffer.from('[{"text": "a"}]') });
    const r = await settle(loadDataset({ source: 'org/json', env: { HF_HOME: home }, allowDownload: false }));
    if (r.error) expect(r.error.message).not.toMatch(/not in the Hugging Face cache/);
    else expect(r.value!.prompts.map((p) => p.text)).toEqual(['a']);
  });

  it('treats an existing local directory named like ORG/NAME as that directory, never as a hub id to look up or download', async () => {
    const local = join(dir, 'prompts', 'set1');
    await mkdir(local, { recursive: true });
    await copyFile(PARQUET, join(local, 'train.parquet'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await settle(loadDataset({ source: 'prompts/set1', env: { HF_HOME: join(dir, 'empty'), HF_HUB_OFFLINE: '1' } }));
      if (r.error) expect(r.error.message).toMatch(/director/);
      else expect(r.value!.totalRows).toBe(12);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('local dataset files', () => {
  it('a Parquet file whose pages do not decode under their codec fails with a DatasetError naming the file', async () => {
    const bytes = Buffer.from(await readFile(PARQUET));
    // ColumnMetaData of `text`: path_in_schema ["text"], then codec (field 4) = UNCOMPRESSED; claim ZSTD (6).
    const codecAt = bytes.indexOf(Buffer.from([0x19, 0x18, 0x04, ...Buffer.from('text'), 0x15, 0x00])) + 8;
    expect(codecAt).toBeGreaterThan(8);
    bytes[codecAt] = 6 << 1; // zigzag
    const file = join(dir, 'zstd.parquet');
    await writeFile(file, bytes);
    const r = await settle(loadDataset({ source: file }));
    expect(r.error?.name).toBe('DatasetError');
    expect(r.error?.message).toContain(file);
    expect(r.error?.message).toMatch(/cannot read column "text"/);
  });

  for (const [name, content] of [
    ['latin1.jsonl', Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')])],
    ['latin1.csv', Buffer.concat([Buffer.from('text\ncaf'), Buffer.from([0xe9]), Buffer.from('\n')])],
  ] as const) {
    it(`refuses bytes that are not UTF-8 (${name}) naming the file, instead of sending U+FFFD in the prompt`, async () => {
      const file = join(dir, name);
      await writeFile(file, content);
      const r = await settle(loadDataset({ source: file }));
      expect(r.value?.prompts[0]?.text).toBeUndefined(); // was 'caf\ufffd'
      expect(r.error?.message).toContain(file);
      expect(r.error?.message).toMatch(/UTF-8/i);
    });
  }

  it('refuses an empty or blank prompt naming its line (WikiText-style empty rows would be measured as prompts)', async () => {
    const file = join(dir, 'blank.jsonl');
    await writeFile(file, '{"text": "a real prompt"}\n{"text": ""}\n');
    await expect(loadDataset({ source: file })).rejects.toThrow(/line 2.*(empty|blank)/);
  });
});

describe('aeb migrate-csv', () => {
  const preRename = () => readFile(join(FIX, 'master_results_pre_rename.csv'), 'utf8');

  it('keeps bytes that are not UTF-8 (a cp1252 file from Windows) byte-for-byte, or refuses the file untouched', async () => {
    const [header, row] = (await preRename()).split('\r\n');
    const file = join(dir, 'master_results.csv');
    const original = Buffer.concat([Buffer.from(`${header}\r\n`), Buffer.from(row!.replace('openai/gpt-oss-20b', 'caf\xe9/model'), 'latin1'), Buffer.from('\r\n')]);
    await writeFile(file, original);
    const r = await settle(migrateMasterCsv(file));
    const after = await readFile(file);
    if (r.error) expect(after.equals(original)).toBe(true);
    else {
      expect(after.includes(Buffer.from('caf\xe9/model', 'latin1'))).toBe(true); // was caf EF BF BD (U+FFFD)
      expect(after.includes(Buffer.from('\ufffd'))).toBe(false);
    }
  });

  it('never drops a row another (lock-less) writer appended while the file was being migrated', async () => {
    const text = await preRename();
    const file = join(dir, 'master_results.csv');
    await writeFile(file, text);
    const appended = 'appended-during-migration,B,text_generation,Off,10,10,0,1.00,0.1000,10,5,5,1.00,0.1,1.0,0.1,1.0,0.01,2025-10-20T14:02:11,\r\n';
    Object.assign(race, { file, row: appended, fired: false });
    const r = await settle(migrateMasterCsv(file));
    race.file = null;
    // If a fix reads the file another way (a FileHandle), move this injection point with it.
    expect(race.fired, 'the lock-less append was injected after migrate read the file').toBe(true);
    // Migrated with the row, or refused ("changed while migrating") with the file as the writer left it.
    const final = await readFile(file, 'utf8');
    expect(final).toContain('appended-during-migration');
    if (r.error) expect(final).toBe(text + appended);
    expect((await readdir(dir)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });
});

describe('split ranking in the hub cache', () => {
  it('a folder whose name merely contains "test" (contest_prompts) is not taken for a test split', async () => {
    const home = join(dir, 'hf');
    await hubRepo(home, 'org/words', 'r1', {
      'contest_prompts/train.jsonl': Buffer.from('{"text": "from contest_prompts"}\n'),
      'misc/other.jsonl': Buffer.from('{"text": "from misc"}\n'),
    });
    const d = await loadDataset({ source: 'org/words', env: { HF_HOME: home }, allowDownload: false });
    expect(d.prompts.map((p) => p.text)).toEqual(['from contest_prompts']);
  });
});
