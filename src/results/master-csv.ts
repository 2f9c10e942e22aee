// master_results.csv: one row per (model, reasoning state) run, appended by concurrent
// writers. Invariants: the header is written only when the file is new; a file whose header
// is not exactly ours is never appended to; each row is one write() of a complete record
// followed by fsync, under the file lock, so a crash leaves whole rows or nothing.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EnergySummary, RunSummary } from '../runner/summary.js';
import { energyScopeLabel, partialFailureMessage } from '../runner/summary.js';
import { csvRecords, detectEol, parseCsvText } from './csv-file.js';
import { LEGACY_COLUMNS, MASTER_COLUMNS, PRE_RENAME_COLUMNS, type MasterRow } from './columns.js';
import { writeDurably } from './durable.js';
import { ResultsFileError } from './errors.js';
import { decimalOrEmpty, intOrEmpty, pythonIsoTimestamp } from './format.js';
import { withFileLock } from './lock.js';
import { makeDirectory } from '../util/make-directory.js';

export interface RunIdentity {
  modelName: string;
  /** A/B/C or ''. */
  modelClass?: string;
  task?: string;
  reasoningState?: string;
  runId?: string;
  backend?: string;
  /**
   * The device that did the work, when known; null: unknown (empty cell). Native engine: its
   * device. Server backend: only a device the server reports; the client's `backend.device`
   * setting (default cpu) says nothing about the server, so it is never written for one.
   */
  device: string | null;
  dtype?: string;
  loadMode?: string;
  gpuCount?: number | null;
  /** ISO 8601; defaults to now. */
  timestamp?: string;
}

export { ResultsFileError };

const s6 = (ms: number | null) => decimalOrEmpty(ms === null ? null : ms / 1000, 6);

/** The error_message cell: partial failures (old wording) and why a run stopped early. */
export function runErrorMessage(summary: RunSummary): string {
  const parts: string[] = [];
  const partial = partialFailureMessage(summary.failed_prompts, summary.total_prompts);
  if (partial) parts.push(partial);
  if (summary.stop_reason) parts.push(`STOPPED EARLY (${summary.stop_reason}) after ${summary.total_prompts}/${summary.planned_prompts} prompts`);
  return parts.join('; ');
}

function identityCells(id: RunIdentity) {
  return {
    model_name: id.modelName,
    model_class: id.modelClass ?? '',
    task: id.task ?? '',
    reasoning_state: id.reasoningState ?? '',
    timestamp: id.timestamp ?? pythonIsoTimestamp(new Date()),
    run_id: id.runId ?? '',
    backend: id.backend ?? '',
    device: id.device ?? '',
    dtype: id.dtype ?? '',
    load_mode: id.loadMode ?? '',
    gpu_count: intOrEmpty(id.gpuCount ?? null),
  };
}

const wh = (joules: number | null) => (joules === null ? null : joules / 3600);

/**
 * The energy cells. A row carries one label (energy_scope/energy_method, of the primary
 * figure), so a cell is written only when that label holds for it: none of the client
 * machine's figures for a server on another machine (scope `client-only (…)`, figures in
 * report.json), and the CPU figure only when measured (RAPL) or when it is the primary one.
 */
function energyCells(e: EnergySummary, gpuEnergyWh: number | null) {
  const covers = e.covers_workload !== false;
  const cpuIsPrimary = e.scope !== null && !e.scope.split('+').includes('gpu');
  const cpuLabelled = e.cpu_method === 'rapl' || cpuIsPrimary;
  return {
    gpu_energy_wh: decimalOrEmpty(covers ? gpuEnergyWh : null, 4),
    energy_scope: energyScopeLabel(e) ?? 'unavailable',
    // No status column: an invalid window (a counter reset, a failed domain) says so here, never as a bare empty figure.
    energy_method: e.status === 'invalid' ? `${e.method ?? ''} (invalid)`.trimStart() : (e.method ?? ''),
    energy_window_seconds: decimalOrEmpty(e.window_seconds, 3),
    cpu_energy_wh: decimalOrEmpty(covers && cpuLabelled ? wh(e.cpu_joules) : null, 4),
    gpu_dynamic_energy_wh: decimalOrEmpty(covers ? wh(e.gpu_dynamic_joules) : null, 4),
  };
}

export function buildMasterRow(id: RunIdentity, summary: RunSummary, errorMessage = runErrorMessage(summary)): MasterRow {
  return {
    ...identityCells(id),
    total_prompts: String(summary.total_prompts),
    successful_prompts: String(summary.successful_prompts),
    failed_prompts: String(summary.failed_prompts),
    total_duration_seconds: decimalOrEmpty(summary.total_duration_seconds, 2),
    avg_total_time: decimalOrEmpty(summary.avg_total_time, 4),
    avg_time_to_first_token: decimalOrEmpty(summary.avg_time_to_first_token, 4),
    total_tokens: intOrEmpty(summary.total_tokens),
    total_prompt_tokens: intOrEmpty(summary.total_prompt_tokens),
    total_completion_tokens: intOrEmpty(summary.total_completion_tokens),
    throughput_tokens_per_second: decimalOrEmpty(summary.throughput_tokens_per_second, 2),
    wh_per_1000_queries: decimalOrEmpty(summary.wh_per_1000_queries, 4),
    co2_emissions_g: decimalOrEmpty(summary.co2_emissions_g, 4),
    tokens_per_joule: decimalOrEmpty(summary.tokens_per_joule, 4),
    avg_energy_per_prompt_wh: decimalOrEmpty(summary.avg_energy_per_prompt_wh, 4),
    error_message: errorMessage,
    warmup_requests: String(summary.warmup_requests),
    p50_ttft_seconds: s6(summary.ttft_ms.median),
    p95_ttft_seconds: s6(summary.ttft_ms.p95),
    p99_ttft_seconds: s6(summary.ttft_ms.p99),
    avg_time_to_first_output_seconds: s6(summary.ttfo_ms.mean),
    avg_tpot_seconds: s6(summary.tpot_ms.mean),
    p50_tpot_seconds: s6(summary.tpot_ms.median),
    p95_tpot_seconds: s6(summary.tpot_ms.p95),
    p99_tpot_seconds: s6(summary.tpot_ms.p99),
    avg_itl_seconds: s6(summary.itl_ms.mean),
    p50_total_time_seconds: s6(summary.total_time_ms.median),
    p95_total_time_seconds: s6(summary.total_time_ms.p95),
    p99_total_time_seconds: s6(summary.total_time_ms.p99),
    output_tokens_per_second: decimalOrEmpty(summary.output_tokens_per_second, 2),
    requests_per_second: decimalOrEmpty(summary.requests_per_second, 4),
    ...energyCells(summary.energy, summary.gpu_energy_wh),
    stop_reason: summary.stop_reason ?? '',
  };
}

/** A run that produced no measurements (model failed to load, server down…), as the old add_failed_result. */
export function buildFailedRow(id: RunIdentity, plannedPrompts: number, durationSeconds: number, error: string): MasterRow {
  const empty = Object.fromEntries(MASTER_COLUMNS.map((c) => [c, ''])) as MasterRow;
  return {
    ...empty,
    ...identityCells(id),
    total_prompts: String(plannedPrompts),
    successful_prompts: '0',
    failed_prompts: String(plannedPrompts),
    total_duration_seconds: decimalOrEmpty(durationSeconds, 2),
    energy_scope: 'unavailable',
    error_message: `FAILED: ${error}`,
    stop_reason: 'failed',
  };
}

export function rowCells(row: MasterRow): string[] {
  return MASTER_COLUMNS.map((c) => row[c as keyof MasterRow] ?? '');
}

/** Classify a header: ours, an old layout that `aeb migrate-csv` converts, or unknown. */
export function headerKind(header: readonly string[]): 'current' | 'migratable' | 'unknown' {
  const eq = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (eq(header, MASTER_COLUMNS)) return 'current';
  if (eq(header, PRE_RENAME_COLUMNS)) return 'migratable';
  // The old system's 21 columns, or an earlier version of ours (a prefix of the current header).
  if (header.length >= LEGACY_COLUMNS.length && header.length < MASTER_COLUMNS.length && eq(header, MASTER_COLUMNS.slice(0, header.length)))
    return 'migratable';
  return 'unknown';
}

interface ExistingFile {
  size: number;
  eol: '\n' | '\r\n';
  header: string[];
  endsWithNewline: boolean;
  /**
   * Line (1-based) of a quote that opens a field never closed, or null. A well-formed CSV has an
   * even number of '"' (quoting and escaping both come in pairs); with an odd number, whatever
   * is appended would land inside that field.
   */
  unclosedQuoteLine: number | null;
}

function unclosedQuoteLine(text: string): number | null {
  let quoted = false;
  let opening = -1;
  let previous = -2;
  for (let i = text.indexOf('"'); i >= 0; previous = i, i = text.indexOf('"', i + 1)) {
    // A quote right after the one that closed a field is an escaped "" inside that field.
    if (!quoted && i !== previous + 1) opening = i;
    quoted = !quoted;
  }
  if (!quoted) return null;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < opening; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Header, line ending and whether the last row is complete, of an existing results file (null: none). */
async function inspectExisting(file: string): Promise<ExistingFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (text.length === 0) return { size: 0, eol: '\n', header: [], endsWithNewline: true, unclosedQuoteLine: null };
  const firstLine = text.slice(0, text.indexOf('\n') + 1 || text.length);
  const { header } = parseCsvText(firstLine, file);
  return { size: text.length, eol: detectEol(text), header, endsWithNewline: text.endsWith('\n'), unclosedQuoteLine: unclosedQuoteLine(text) };
}

function checkAppendable(file: string, existing: ExistingFile): void {
  const kind = headerKind(existing.header);
  if (kind === 'migratable')
    throw new ResultsFileError(`${file} has an older column layout (${existing.header.length} columns); run \`aeb migrate-csv ${file}\` first (it keeps a backup)`);
  if (kind === 'unknown')
    throw new ResultsFileError(`${file} has a header that is not a master_results.csv header; refusing to append (first columns: ${existing.header.slice(0, 4).join(', ')})`);
  if (!existing.endsWithNewline)
    throw new ResultsFileError(`${file} ends with an incomplete row (no final newline); fix or move it before appending`);
  if (existing.unclosedQuoteLine !== null)
    throw new ResultsFileError(`${file} has a quoted field opened on line ${existing.unclosedQuoteLine} that is never closed (an odd number of '"' characters, ` +
      'usually a half-written last row); a new row would become part of that field: fix or move the file before appending');
}

/** Throws ResultsFileError now if rows could not be appended to `file` later (checked before long runs). */
export async function assertAppendable(file: string): Promise<void> {
  const existing = await inspectExisting(file);
  if (existing && existing.size > 0) checkAppendable(file, existing);
}

/** Appends complete rows (header first when the file is new or empty). */
export async function appendMasterRows(file: string, rows: readonly MasterRow[], opts: { sync?: boolean } = {}): Promise<void> {
  await makeDirectory(dirname(file));
  await withFileLock(file, async () => {
    const existing = await inspectExisting(file);
    let text: string;
    if (!existing || existing.size === 0) {
      text = csvRecords([MASTER_COLUMNS, ...rows.map(rowCells)]);
    } else {
      checkAppendable(file, existing);
      text = csvRecords(rows.map(rowCells), existing.eol);
    }
    await writeDurably(file, text, 'a', opts);
  });
}

export const appendMasterRow = (file: string, row: MasterRow, opts: { sync?: boolean } = {}) => appendMasterRows(file, [row], opts);
