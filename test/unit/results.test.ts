import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import { EXTRA_COLUMNS, LEGACY_COLUMNS, MASTER_COLUMNS } from '../../src/results/columns.js';
import { csvRecords, readCsvFile } from '../../src/results/csv-file.js';
import { pyFixed } from '../../src/results/format.js';
import { appendMasterRow, buildFailedRow, buildMasterRow, ResultsFileError, rowCells } from '../../src/results/master-csv.js';
import { migrateMasterCsv } from '../../src/results/migrate.js';
import { LockTimeoutError, withFileLock } from '../../src/results/lock.js';
import { buildSummary } from '../../src/runner/summary.js';

const FIX = join(import.meta.dirname, '../fixtures/old-system');

function rec(i: number, ok: boolean, endS: number, ttftMs: number | null, p: number | null, c: number | null): RequestRecord {
  return {
    index: i, success: ok, ...(ok ? {} : { error: 'timeout' }), startNs: 0n, endNs: BigInt(endS * 1e9), queueMs: 0, ttftMs, ttfoMs: ttftMs,
    ttstMs: null, e2eMs: ok ? endS * 1000 : null, tpotMs: ok ? 20 : null, itlMs: [], iclMs: [], promptTokens: p, completionTokens: c,
    tokenCountSource: ok ? 'usage' : 'unknown', text: '',
  };
}

export function goldenSummary() {
  return buildSummary({
    records: [rec(0, true, 2, 250, 100, 50), rec(1, true, 3, 350, 120, 70), rec(2, false, 0.1, null, null, null)],
    plannedPrompts: 3, warmupRequests: 1, durationSeconds: 10, stopReason: null, cancelledInFlight: 0,
    energy: { label: 'm', startNs: 0n, endNs: 1n, seconds: 10, gpuJoules: 7200, cpuJoules: null, figures: [{ scope: 'gpu', method: 'counter', status: 'ok', source: 'GPU 0', joules: 7200 }] },
    idle: null, emissions: { grams: 0.77777 },
  });
}

const id = { modelName: 'openai/gpt-oss-20b', modelClass: 'B', task: 'text_generation', reasoningState: 'On (High)', timestamp: '2025-11-01T12:00:00.000Z', runId: 'r1', backend: 'openai' };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-results-'));
});

describe('master_results.csv layout', () => {
  it('golden file: the 21 leading columns (names, order, decimals, ISO timestamp, PARTIAL FAILURE message)', async () => {
    const golden = await readFile(join(FIX, 'golden_master_row.csv'), 'utf8');
    const cells = rowCells(buildMasterRow(id, goldenSummary()));
    expect(csvRecords([[...LEGACY_COLUMNS], cells.slice(0, 21)])).toBe(golden);
    expect(MASTER_COLUMNS.slice(0, 21)).toEqual([...LEGACY_COLUMNS]);
    expect(MASTER_COLUMNS.slice(21)).toEqual([...EXTRA_COLUMNS]);
  });

  it('writes unknown values as empty cells, never a fake 0', () => {
    const s = { ...goldenSummary(), avg_time_to_first_token: null, gpu_energy_wh: null, tokens_per_joule: null };
    const row = buildMasterRow(id, s);
    expect(row.avg_time_to_first_token).toBe('');
    expect(row.gpu_energy_wh).toBe('');
    expect(row.tokens_per_joule).toBe('');
    const failed = buildFailedRow(id, 10, 1.234, 'model not found');
    expect(failed.error_message).toBe('FAILED: model not found');
    expect([failed.total_prompts, failed.failed_prompts, failed.total_duration_seconds, failed.avg_total_time]).toEqual(['10', '10', '1.23', '']);
  });

  it('formats like Python f-strings, ties to even included', () => {
    expect(pyFixed(6.25, 1)).toBe('6.2');
    expect(pyFixed(0.125, 2)).toBe('0.12');
    expect(pyFixed(0.375, 2)).toBe('0.38');
    expect(pyFixed(2.5, 0)).toBe('2');
    expect(pyFixed(3.5, 0)).toBe('4');
    expect(pyFixed(1.005, 2)).toBe('1.00'); // 1.005 is 1.00499999… in binary
    expect(pyFixed(12.34567, 4)).toBe('12.3457');
    expect(pyFixed(1e-9, 4)).toBe('0.0000');
  });
});

describe('appending', () => {
  it('creates the file with our header and appends rows under concurrent writers without interleaving', async () => {
    const file = join(dir, 'master_results.csv');
    const s = goldenSummary();
    await Promise.all(Array.from({ length: 25 }, (_, i) => appendMasterRow(file, buildMasterRow({ ...id, runId: `run-${i}`, modelName: `m,"${i}"\nx` }, s))));
    const t = await readCsvFile(file);
    expect(t.header).toEqual(MASTER_COLUMNS);
    expect(t.rows).toHaveLength(25);
    expect(new Set(t.rows.map((r) => r[MASTER_COLUMNS.indexOf('run_id')])).size).toBe(25);
    for (const r of t.rows) expect(r).toHaveLength(MASTER_COLUMNS.length);
    expect(t.rows.map((r) => r[0]).sort()).toContain('m,"7"\nx');
  });

  it('refuses an old-layout file until it is migrated, then appends after the old rows (CRLF kept)', async () => {
    const file = join(dir, 'master_results.csv');
    await copyFile(join(FIX, 'master_results_pre_rename.csv'), file);
    const before = await readFile(file, 'utf8');
    await expect(appendMasterRow(file, buildMasterRow(id, goldenSummary()))).rejects.toThrow(/aeb migrate-csv/);
    expect(await readFile(file, 'utf8')).toBe(before);

    await migrateMasterCsv(file);
    await appendMasterRow(file, buildMasterRow(id, goldenSummary()));
    const text = await readFile(file, 'utf8');
    expect(text.split('\r\n').length).toBeGreaterThan(5);
    expect(text.replace(/\r\n/g, '').includes('\n2025')).toBe(false); // every record ends with CRLF
    const t = await readCsvFile(file);
    expect(t.rows).toHaveLength(5);
    expect(t.rows[4]!.slice(0, 21)).toEqual(rowCells(buildMasterRow(id, goldenSummary())).slice(0, 21));
    const old = await readCsvFile(join(FIX, 'master_results_pre_rename.csv'));
    expect(t.rows[3]![MASTER_COLUMNS.indexOf('error_message')]).toBe(old.rows[3]![19]);
  });

  it('refuses foreign headers and files ending in a half-written row, leaving them untouched', async () => {
    const foreign = join(dir, 'other.csv');
    await writeFile(foreign, 'a,b,c\n1,2,3\n');
    await expect(appendMasterRow(foreign, buildMasterRow(id, goldenSummary()))).rejects.toBeInstanceOf(ResultsFileError);
    expect(await readFile(foreign, 'utf8')).toBe('a,b,c\n1,2,3\n');

    const half = join(dir, 'half.csv');
    const partial = csvRecords([MASTER_COLUMNS]) + 'openai/gpt-oss-20b,B,text_gen';
    await writeFile(half, partial);
    await expect(appendMasterRow(half, buildMasterRow(id, goldenSummary()))).rejects.toThrow(/incomplete row/);
    expect(await readFile(half, 'utf8')).toBe(partial);
  });
});

describe('lock file', () => {
  it('breaks a lock left by a dead process and times out on a live one', async () => {
    const file = join(dir, 'master_results.csv');
    await writeFile(`${file}.lock`, '2147483646\n2025-01-01T00:00:00Z\n'); // no such pid
    await appendMasterRow(file, buildMasterRow(id, goldenSummary()));
    expect((await readCsvFile(file)).rows).toHaveLength(1);
    await writeFile(`${file}.lock`, `${process.pid}\n`);
    await expect(withFileLock(file, async () => 1, { timeoutMs: 100 })).rejects.toBeInstanceOf(LockTimeoutError);
    await expect(readFile(`${file}.lock`, 'utf8')).resolves.toBe(`${process.pid}\n`);
  });
});
