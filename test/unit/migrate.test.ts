import { copyFile, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import { LEGACY_COLUMNS, MASTER_COLUMNS, PRE_RENAME_COLUMNS } from '../../src/results/columns.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { migrateMasterCsv } from '../../src/results/migrate.js';

const FIX = join(import.meta.dirname, '../fixtures/old-system');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-migrate-'));
});

async function stage(name: string): Promise<string> {
  const file = join(dir, 'master_results.csv');
  await copyFile(join(FIX, name), file);
  return file;
}

const col = (name: string) => MASTER_COLUMNS.indexOf(name);

for (const fixture of ['master_results_pre_rename.csv', 'master_results_pre_rename_bom.csv']) {
  it(`migrates ${fixture}: rename, insert empty TTFT, keep every other value, backup, idempotent`, async () => {
    const file = await stage(fixture);
    const original = await readFile(file);
    const old = await readCsvFile(file);
    expect(old.header).toEqual([...PRE_RENAME_COLUMNS]);

    const report = await migrateMasterCsv(file);
    expect(report.status).toBe('migrated');
    expect(report.rows).toBe(4);
    expect(report.backup).not.toBeNull();
    expect(await readFile(report.backup!)).toEqual(original); // byte-identical backup

    const t = await readCsvFile(file);
    expect(t.header).toEqual(MASTER_COLUMNS);
    expect(t.bom).toBe(fixture.includes('bom'));
    expect(t.eol).toBe('\r\n');
    expect(t.rows).toHaveLength(4);
    for (let r = 0; r < 4; r++) {
      PRE_RENAME_COLUMNS.forEach((name, c) => {
        const target = name === 'avg_latency_seconds' ? 'avg_total_time' : name;
        expect(t.rows[r]![col(target)]).toBe(old.rows[r]![c]);
      });
      expect(t.rows[r]![col('avg_time_to_first_token')]).toBe('');
      for (let c = LEGACY_COLUMNS.length; c < MASTER_COLUMNS.length; c++) expect(t.rows[r]![c]).toBe('');
    }
    // Quoted fields with commas, newlines and doubled quotes survive.
    expect(t.rows[3]![col('task')]).toBe('text_generation, chat');
    expect(t.rows[3]![col('error_message')]).toBe('Backend error: CUDA out of memory.\nTried to allocate 2.00 GiB, "expandable_segments" hint');
    expect(t.rows[3]![col('gpu_energy_wh')]).toBe('');
    expect(t.rows[1]![col('avg_total_time')]).toBe('12.3376');

    const migrated = await readFile(file);
    const again = await migrateMasterCsv(file);
    expect(again.status).toBe('already-current');
    expect(again.backup).toBeNull();
    expect(await readFile(file)).toEqual(migrated);
    expect((await readdir(dir)).filter((f) => f.endsWith('.bak'))).toHaveLength(1);
  });
}

it("migrates the old system's 21-column (post-rename) file by appending the new columns", async () => {
  const file = await stage('master_results_post_rename.csv');
  const old = await readCsvFile(file);
  await migrateMasterCsv(file);
  const t = await readCsvFile(file);
  expect(t.rows[0]!.slice(0, 21)).toEqual(old.rows[0]);
  expect(t.rows[0]![col('avg_time_to_first_token')]).toBe('0.2140');
});

for (const [fixture, why] of [
  ['master_results_corrupt.csv', /not a well-formed CSV/],
  ['master_results_misaligned.csv', /not a well-formed CSV/],
] as const) {
  it(`refuses ${fixture} and leaves it untouched`, async () => {
    const file = await stage(fixture);
    const before = await readFile(file);
    await expect(migrateMasterCsv(file)).rejects.toThrow(why);
    expect(await readFile(file)).toEqual(before);
    expect((await readdir(dir)).filter((f) => f !== 'master_results.csv')).toEqual([]);
  });
}

it('refuses an unrecognised header', async () => {
  const file = await stage('models.csv');
  const before = await readFile(file);
  await expect(migrateMasterCsv(file)).rejects.toThrow(/not a recognised master_results.csv layout/);
  expect(await readFile(file)).toEqual(before);
});
