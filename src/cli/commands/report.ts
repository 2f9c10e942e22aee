// aeb report DIR: terminal summary of a results directory (master_results.csv rows and each
// individual run's report.json), or of a single run directory.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { readCsvFile } from '../../results/csv-file.js';
import type { RunReport } from '../../results/run-files.js';
import { CliError, EXIT } from '../errors.js';
import { printJsonLine, writeStdout } from '../output.js';
import { formatSummary } from '../summary-text.js';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

export async function findReports(dir: string): Promise<string[]> {
  if (await exists(join(dir, 'report.json'))) return [join(dir, 'report.json')];
  const runs = join(dir, 'individual_runs');
  if (!(await exists(runs))) return [];
  const names = (await readdir(runs)).sort();
  const out: string[] = [];
  for (const n of names) if (await exists(join(runs, n, 'report.json'))) out.push(join(runs, n, 'report.json'));
  return out;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('summarise a results directory (or one individual run directory) in the terminal')
    .argument('<dir>', 'results directory')
    .option('--json', 'one JSON object per run report on stdout')
    .action(async (dir: string, opts: { json?: boolean }) => {
      if (!(await exists(dir))) throw new CliError(`${dir} does not exist`);
      const reports = await findReports(dir);
      const master = join(dir, 'master_results.csv');
      if (reports.length === 0 && !(await exists(master))) throw new CliError(`${dir} holds no report.json and no master_results.csv`, EXIT.USAGE);
      for (const path of reports) {
        let report: RunReport;
        try {
          report = JSON.parse(await readFile(path, 'utf8')) as RunReport;
        } catch (e) {
          throw new CliError(`${path} is not a readable run report (${(e as Error).message})`, EXIT.RESULTS_FILE);
        }
        if (report?.schema !== 'aeb.run-report/1' || typeof report.summary !== 'object' || report.summary === null)
          throw new CliError(`${path} is not an aeb run report (schema ${JSON.stringify(report?.schema)}, expected "aeb.run-report/1")`, EXIT.RESULTS_FILE);
        if (opts.json) printJsonLine(report);
        else writeStdout(formatSummary(`run ${report.run_id}`, report.summary) + '\n\n');
      }
      if (!opts.json && (await exists(master))) {
        const t = await readCsvFile(master);
        const col = (n: string) => t.header.indexOf(n);
        writeStdout(`${master}: ${t.rows.length} row(s)\n`);
        const cols = ['model_name', 'reasoning_state', 'successful_prompts', 'total_prompts', 'avg_total_time', 'avg_time_to_first_token', 'throughput_tokens_per_second', 'wh_per_1000_queries', 'error_message'];
        for (const r of t.rows) writeStdout(`  ${cols.map((c) => (col(c) >= 0 ? r[col(c)] || '-' : '?')).join(' | ')}\n`);
      }
    });
}
