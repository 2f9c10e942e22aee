import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import { EXTRA_COLUMNS, LEGACY_COLUMNS, MASTER_COLUMNS } from '../../src/results/columns.js';
import { csvRecords, readCsvFile } from '../../src/results/csv-file.js';
import { decimalOrEmpty, pyFixed } from '../../src/results/format.js';
import { appendMasterRow, buildFailedRow, buildMasterRow, ResultsFileError, rowCells } from '../../src/results/master-csv.js';
import { migrateMasterCsv } from '../../src/results/migrate.js';
import { LockTimeoutError, withFileLock } from '../../src/results/lock.js';
import { buildRunReport, writeRunCsv, writeRunReport } from '../../src/results/run-files.js';
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

const id = { modelName: 'openai/gpt-oss-20b', modelClass: 'B', task: 'text_generation', reasoningState: 'On (High)', timestamp: '2025-11-01T12:00:00.000Z', runId: 'r1', backend: 'openai', device: null };

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

describe('small values and energy labels', () => {
  /** A run with real but tiny figures (a few mJ over 3 requests), estimated on the CPU. */
  function tinySummary() {
    return buildSummary({
      records: [rec(0, true, 0.00004, 0.02, 3, 2), rec(1, true, 0.00005, 0.03, 3, 2), rec(2, true, 0.00006, 0.04, 3, 2)],
      plannedPrompts: 3, warmupRequests: 0, durationSeconds: 0.0012, stopReason: null, cancelledInFlight: 0,
      energy: { label: 'm', startNs: 0n, endNs: 1n, seconds: 0.0012, gpuJoules: null, cpuJoules: 0.0036,
        figures: [{ scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: 'system CPU time × 10 W/core', joules: 0.0036 }] },
      idle: null, emissions: { grams: 0.000000123 },
    });
  }

  it('never writes a nonzero value as 0: small values keep 3 significant digits, in both CSV files', async () => {
    const s = tinySummary();
    const row = buildMasterRow({ ...id, device: 'cpu' }, s);
    expect(row.avg_energy_per_prompt_wh).toBe('0.000000333'); // 0.0036 J / 3600 / 3
    expect(row.wh_per_1000_queries).toBe('0.000333');
    expect(row.co2_emissions_g).toBe('0.000000123');
    expect(row.cpu_energy_wh).toBe('0.00000100');
    expect(row.avg_total_time).toBe('0.0000500');
    expect(row.total_duration_seconds).toBe('0.00120');
    expect(row.tokens_per_joule).toBe('4166.6667'); // enough digits already: the old format
    expect(row.gpu_energy_wh).toBe(''); // unknown stays empty
    const file = join(dir, 'results.csv');
    await writeRunCsv(file, row);
    const t = await readCsvFile(file);
    expect(t.header).toEqual(MASTER_COLUMNS);
    MASTER_COLUMNS.forEach((c, i) => { // every decimal cell of this run is a nonzero value
      const cell = t.rows[0]![i]!;
      if (/^-?\d+\.\d+$/.test(cell)) expect([c, Number(cell) === 0]).toEqual([c, false]);
    });
    expect(decimalOrEmpty(0, 4)).toBe('0.0000'); // a real zero is still 0
    expect(decimalOrEmpty(-0.0000123456, 4)).toBe('-0.0000123');
    expect(decimalOrEmpty(1e-30, 4)).toBe('1.00e-30');
    expect(decimalOrEmpty(0.0123456, 4)).toBe('0.0123');
    expect(decimalOrEmpty(null, 4)).toBe('');
  });

  it('labels an estimated figure "estimated" in report.json and in the per-run CSV', async () => {
    const s = tinySummary();
    const report = join(dir, 'report.json');
    await writeRunReport(report, buildRunReport({
      run_id: 'r1', config: {}, environment: {}, backend: null, load: null, summary: s, client_calibration: null, server_metrics: null,
      warnings: [], started_at: '', finished_at: '', files: {},
    }));
    const json = JSON.parse(await readFile(report, 'utf8'));
    expect([json.energy.status, json.energy.method, json.energy.scope]).toEqual(['estimated', 'estimated', 'estimated-cpu']);
    expect(json.summary.energy.status).toBe('estimated');
    const row = buildMasterRow({ ...id, device: 'cpu' }, s);
    expect([row.energy_scope, row.energy_method]).toEqual(['estimated-cpu', 'estimated']);
  });

  it('writes an unknown device (a server that does not report one) as an empty cell', () => {
    expect(buildMasterRow({ ...id, backend: 'openai', device: null }, goldenSummary()).device).toBe('');
    expect(buildMasterRow({ ...id, backend: 'native', device: 'cuda:1' }, goldenSummary()).device).toBe('cuda:1');
  });
});
