// Regression tests from the results-file compatibility review (old Python system's users'
// contract, /work/shared/docs/seed-system.md, and measurement.md). Each test pins one
// confirmed defect; they fail until the code is fixed.
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import { register as registerReport } from '../../src/cli/commands/report.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { appendMasterRow, buildMasterRow } from '../../src/results/master-csv.js';
import { migrateMasterCsv } from '../../src/results/migrate.js';
import { buildSummary, partialFailureMessage } from '../../src/runner/summary.js';

const FIX = join(import.meta.dirname, '../fixtures/old-system');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-compat-review-'));
});
afterEach(() => {
  vi.restoreAllMocks();
});

function okRecord(i: number): RequestRecord {
  return {
    index: i, success: true, startNs: 0n, endNs: 2_000_000_000n, queueMs: 0, ttftMs: 250, ttfoMs: 250, ttstMs: 10,
    e2eMs: 2000, tpotMs: 20, itlMs: [20], iclMs: [20], promptTokens: 100, completionTokens: 50,
    tokenCountSource: 'usage', text: 'x',
  };
}

function summaryWith(energy: Parameters<typeof buildSummary>[0]['energy']) {
  return buildSummary({
    records: [okRecord(0), okRecord(1)], plannedPrompts: 2, warmupRequests: 0, durationSeconds: 4,
    stopReason: null, cancelledInFlight: 0, energy, idle: null, emissions: null,
  });
}

const id = { modelName: 'openai/gpt-oss-20b', modelClass: 'B', task: 'text_generation', reasoningState: 'On (High)', runId: 'r1', backend: 'native', device: 'cuda:0' };

/** Runs `aeb report DIR` in-process and returns what it printed on stdout. */
async function reportOutput(target: string): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  const program = new Command().exitOverride();
  registerReport(program);
  await program.parseAsync(['node', 'aeb', 'report', target]);
  return out;
}

// Contract: "20 timestamp (ISO 8601)"; old rows hold Python's datetime.now().isoformat()
// (no zone designator, e.g. 2025-10-20T14:02:11.512030). A new row with a 'Z' makes the column
// mix naive and zone-aware values: Python's datetime refuses to compare them (TypeError when a
// user sorts or diffs runs by timestamp), and pandas' to_datetime needs utc=True/format='mixed'.
it('a new row appended to a migrated old file keeps the timestamp column one kind (all naive or all zoned)', async () => {
  const file = join(dir, 'master_results.csv');
  await copyFile(join(FIX, 'master_results_pre_rename.csv'), file);
  await migrateMasterCsv(file);
  await appendMasterRow(file, buildMasterRow(id, summaryWith(null)), { sync: false });
  const t = await readCsvFile(file);
  const ts = t.header.indexOf('timestamp');
  const zoned = t.rows.map((r) => /(Z|[+-]\d\d:?\d\d)$/.test(r[ts]!));
  expect(t.rows).toHaveLength(5);
  expect(new Set(zoned).size, `timestamps: ${t.rows.map((r) => r[ts]).join(', ')}`).toBe(1);
});

// Contract: "The old system wrote `PARTIAL FAILURE: {failed}/{total} prompts failed ({pct:.1f}%)`".
// Python's :.1f rounds the exact binary value half to even: 1/16 = 6.25 % → "6.2". JavaScript's
// toFixed rounds that tie up ("6.3"); src/results/format.ts already has pyFixed for this.
it('PARTIAL FAILURE percentage is formatted as Python f"{pct:.1f}" (1/16 → 6.2%)', () => {
  expect(partialFailureMessage(1, 16)).toMatch(/^PARTIAL FAILURE: 1\/16 prompts failed \(6\.2%\)/);
  expect(partialFailureMessage(3, 16)).toMatch(/\(18\.8%\)/); // a tie that rounds up in both
});

// Contract: files written before the rename "have `avg_latency_seconds` in column 9" and
// README: "`aeb report DIR` | terminal summary of a results directory". The figure is the
// same measure under its old name; the report shows '?' instead of 81.2440.
it('aeb report shows avg_total_time of an unmigrated old file from its avg_latency_seconds column', async () => {
  await copyFile(join(FIX, 'master_results_pre_rename.csv'), join(dir, 'master_results.csv'));
  const out = await reportOutput(dir);
  const gptHigh = out.split('\n').find((l) => l.includes('openai/gpt-oss-20b') && l.includes('On (High)'));
  expect(gptHigh).toBeDefined();
  expect(gptHigh).toContain('81.2440');
});

// One table line per master row: an error_message with a newline (the old OOM rows have one)
// must not split a row over two lines, or the table's last column runs into the next line.
it('aeb report prints each master_results.csv row on one line, even with a multi-line error_message', async () => {
  await copyFile(join(FIX, 'master_results_pre_rename.csv'), join(dir, 'master_results.csv'));
  const out = await reportOutput(dir);
  const lines = out.trimEnd().split('\n');
  // The "…: 4 row(s)" heading, then exactly one line per row (a column-label line is allowed).
  const heading = lines.findIndex((l) => l.endsWith('4 row(s)'));
  expect(heading).toBeGreaterThanOrEqual(0);
  const body = lines.slice(heading + 1).filter((l) => !/model_name/.test(l));
  expect(body).toHaveLength(4);
  expect(body.every((l) => l.startsWith('  '))).toBe(true);
});

// measurement.md: "A negative counter delta is a reset: report the window as invalid, never
// clamp to 0". report.json says status 'invalid', but the master row reads energy_scope 'gpu',
// energy_method 'counter' with empty figures — the same as nothing wrong but no value; nothing
// in the row says the window was invalid.
it('a master row of a run whose GPU energy window is invalid says "invalid" in its energy cells', () => {
  const summary = summaryWith({
    label: 'measured', startNs: 0n, endNs: 4_000_000_000n, seconds: 4, gpuJoules: null, cpuJoules: null,
    figures: [{ scope: 'gpu', method: 'counter', status: 'invalid', source: 'GPU 0', joules: null, reason: 'counter went backwards (reset)' }],
  });
  expect(summary.energy.status).toBe('invalid');
  const row = buildMasterRow(id, summary);
  expect(row.gpu_energy_wh).toBe('');
  expect(`${row.energy_scope} ${row.energy_method}`).toMatch(/invalid/);
});
