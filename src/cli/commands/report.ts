// aeb report DIR: terminal summary of a results directory (master_results.csv rows and each
// individual run's report.json), or of a single run directory. One damaged run never hides
// the others: every readable run is shown, then each unreadable file is named with its
// reason and the command exits with EXIT.RESULTS_FILE (the code of an unreadable results
// file). A run directory without report.json (a run that failed before measuring — its row
// in master_results.csv says why —, one in progress, or one whose results could not be
// written) is named in a warning and does not change the exit code.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RENAMED_COLUMNS } from '../../results/columns.js';
import { readCsvFile, type CsvTable } from '../../results/csv-file.js';
import { redactSecrets } from '../../results/redact.js';
import type { RunReport } from '../../results/run-files.js';
import { CliError, EXIT } from '../errors.js';
import { createLogger, printJsonLine, writeStdout } from '../output.js';
import { formatSummary } from '../summary-text.js';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

export interface RunReportFiles {
  /** report.json files present, in run order. */
  present: string[];
  /** Run directories under individual_runs/ that hold no report.json. */
  missing: string[];
}

export async function findReports(dir: string): Promise<RunReportFiles> {
  if (await exists(join(dir, 'report.json'))) return { present: [join(dir, 'report.json')], missing: [] };
  const runs = join(dir, 'individual_runs');
  if (!(await exists(runs))) return { present: [], missing: [] };
  const out: RunReportFiles = { present: [], missing: [] };
  for (const e of (await readdir(runs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!e.isDirectory()) continue;
    const report = join(runs, e.name, 'report.json');
    if (await exists(report)) out.present.push(report);
    else out.missing.push(join(runs, e.name));
  }
  return out;
}

/** Reads one run report; throws an Error whose message names `path` and the problem. */
export async function readRunReport(path: string): Promise<RunReport> {
  let report: RunReport;
  try {
    report = JSON.parse(await readFile(path, 'utf8')) as RunReport;
  } catch (e) {
    throw new Error(`${path} is not a readable run report (${(e as Error).message})`, { cause: e });
  }
  if (report?.schema !== 'aeb.run-report/1' || typeof report.summary !== 'object' || report.summary === null)
    throw new Error(`${path} is not an aeb run report (schema ${JSON.stringify(report?.schema)}, expected "aeb.run-report/1")`);
  return report;
}

export interface ReportListing {
  runs: { path: string; report: RunReport }[];
  /** One message per report.json that could not be read, naming its path and the reason. */
  unreadable: string[];
  missing: string[];
}

export async function loadRunReports(dir: string): Promise<ReportListing> {
  const { present, missing } = await findReports(dir);
  const listing: ReportListing = { runs: [], unreadable: [], missing };
  for (const path of present) {
    try {
      listing.runs.push({ path, report: await readRunReport(path) });
    } catch (e) {
      listing.unreadable.push((e as Error).message);
    }
  }
  return listing;
}

const MASTER_SUMMARY_COLUMNS = ['model_name', 'reasoning_state', 'successful_prompts', 'total_prompts', 'avg_total_time',
  'avg_time_to_first_token', 'throughput_tokens_per_second', 'wh_per_1000_queries', 'error_message'];

/** Where a column stands in `header`, under its current name or the name it had before (unmigrated files). */
function columnIndex(header: readonly string[], name: string): number {
  const i = header.indexOf(name);
  if (i >= 0) return i;
  const before = Object.entries(RENAMED_COLUMNS).find(([, now]) => now === name)?.[0];
  return before === undefined ? -1 : header.indexOf(before);
}

function formatMaster(master: string, t: CsvTable): string {
  const at = MASTER_SUMMARY_COLUMNS.map((c) => columnIndex(t.header, c));
  // One line per row: a cell's line breaks (an old OOM error message has them) are shown as ⏎.
  const cell = (r: string[], i: number) => (i < 0 ? '?' : (r[i] || '-').replace(/\r?\n|\r/g, ' ⏎ '));
  const rows = t.rows.map((r) => `  ${at.map((i) => cell(r, i)).join(' | ')}\n`);
  return `${master}: ${t.rows.length} row(s)\n  ${MASTER_SUMMARY_COLUMNS.join(' | ')}\n${rows.join('')}`;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('summarise a results directory (or one individual run directory) in the terminal')
    .argument('<dir>', 'results directory')
    .option('--json', 'one JSON object per run report on stdout')
    .action(async (dir: string, opts: { json?: boolean }) => {
      if (!(await exists(dir))) throw new CliError(`${dir} does not exist`);
      const listing = await loadRunReports(dir);
      const master = join(dir, 'master_results.csv');
      const hasMaster = await exists(master);
      if (listing.runs.length === 0 && listing.unreadable.length === 0 && !hasMaster)
        throw new CliError(`${dir} holds no report.json and no master_results.csv`, EXIT.USAGE);
      for (const { report } of listing.runs) {
        // Reports written before secrets were redacted may still hold them: never echo one.
        if (opts.json) printJsonLine({ ...report, config: redactSecrets(report.config) });
        else writeStdout(formatSummary(`run ${report.run_id}`, report.summary) + '\n\n');
      }
      const unreadable = [...listing.unreadable];
      if (!opts.json && hasMaster) {
        try {
          writeStdout(formatMaster(master, await readCsvFile(master)));
        } catch (e) {
          const m = (e as Error).message;
          unreadable.push(m.includes(master) ? m : `${master}: ${m}`);
        }
      }
      const log = createLogger();
      for (const run of listing.missing) log.warn(`${run} has no report.json (a run that failed before measuring, is still in progress, or whose results could not be written)`);
      if (unreadable.length > 0) {
        throw new CliError(`${unreadable.length} results file(s) could not be read (${listing.runs.length} run report(s) shown):\n` +
          unreadable.map((m) => `  ${m}`).join('\n'), EXIT.RESULTS_FILE);
      }
    });
}
