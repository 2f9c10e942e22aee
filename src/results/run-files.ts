// Per-run outputs: requests.jsonl (one record per settled request, streamed as they finish),
// report.json (config, environment, summary, per-GPU energy, formulas), a one-row
// results.csv with the same stable header as master_results.csv, and telemetry.jsonl (the
// energy monitor's GPU timeline, stamped on the same clock as the requests). Whole files are
// replaced durably (never left truncated); credentials in the config are redacted.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RequestRecord } from '../backends/types.js';
import { SUMMARY_FORMULAS, type RunSummary } from '../runner/summary.js';
import { MASTER_COLUMNS, type MasterRow } from './columns.js';
import { csvRecords } from './csv-file.js';
import { replaceFileDurably, type DurableOptions } from './durable.js';
import { rowCells } from './master-csv.js';
import { redactSecrets } from './redact.js';
import { makeDirectory } from '../util/make-directory.js';

/** JSON with bigints (hrtime stamps) as decimal strings. */
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), space);
}

/** Appends one JSON line per record; writes are serialised and each line is one write(). */
export class RecordsWriter {
  private chain: Promise<unknown> = Promise.resolve();
  private constructor(private readonly handle: FileHandle, readonly path: string) {}

  static async create(path: string): Promise<RecordsWriter> {
    await makeDirectory(dirname(path));
    return new RecordsWriter(await open(path, 'w'), path);
  }

  write(record: RequestRecord): Promise<void> {
    const line = toJson({ ...record, textLength: record.text.length, reasoningTextLength: record.reasoningText?.length ?? 0 }) + '\n';
    const p = this.chain.then(() => this.handle.write(line));
    this.chain = p.catch(() => undefined);
    return p.then(() => undefined);
  }

  /** `sync: false` after an interrupt (see writeDurably): the exit deadline wins over fsync. */
  async close(opts: { sync?: boolean } = {}): Promise<void> {
    await this.chain;
    if (opts.sync ?? true) await this.handle.sync().catch(() => undefined);
    await this.handle.close();
  }
}

export interface RunReport {
  schema: 'aeb.run-report/1';
  run_id: string;
  config: unknown;
  environment: Record<string, unknown>;
  backend: unknown;
  load: unknown;
  summary: RunSummary;
  /** Per-GPU / per-domain energy figures of the measured window. */
  energy: RunSummary['energy'];
  formulas: Record<string, string>;
  /** The client's own measurement floor (OpenAI/vLLM client), when measured. */
  client_calibration: unknown | null;
  /** Server-reported latency histograms over the measured phase (vLLM /metrics), when exposed. */
  server_metrics: unknown | null;
  warnings: string[];
  started_at: string;
  finished_at: string;
  files: Record<string, string>;
}

export function buildRunReport(parts: Omit<RunReport, 'schema' | 'formulas' | 'energy'>): RunReport {
  return { schema: 'aeb.run-report/1', ...parts, energy: parts.summary.energy, formulas: SUMMARY_FORMULAS };
}

export async function writeRunReport(path: string, report: RunReport, opts: DurableOptions = {}): Promise<void> {
  await makeDirectory(dirname(path));
  await replaceFileDurably(path, toJson({ ...report, config: redactSecrets(report.config) }, 2) + '\n', opts);
}

export async function writeRunCsv(path: string, row: MasterRow, opts: DurableOptions = {}): Promise<void> {
  await makeDirectory(dirname(path));
  await replaceFileDurably(path, csvRecords([MASTER_COLUMNS, rowCells(row)]), opts);
}

/** One JSON line per telemetry sample. */
export async function writeTelemetry(path: string, rows: readonly unknown[], opts: DurableOptions = {}): Promise<void> {
  await makeDirectory(dirname(path));
  await replaceFileDurably(path, rows.map((r) => toJson(r) + '\n').join(''), opts);
}
