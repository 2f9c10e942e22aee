// aeb migrate-csv FILE…: old master_results.csv layouts → ours (backup first, verified).
import type { Command } from 'commander';
import { migrateMasterCsv } from '../../results/migrate.js';
import { EXIT, exitCodeFor, messageFor } from '../errors.js';
import { createLogger, printJsonLine, whileWritingFiles } from '../output.js';

export function register(program: Command): void {
  program
    .command('migrate-csv')
    .description('migrate master_results.csv files from the old layout (avg_latency_seconds → avg_total_time, adds avg_time_to_first_token and the new columns); keeps a backup, verifies every value, idempotent')
    .argument('<files...>', 'master_results.csv files')
    .option('--json', 'one JSON object per file on stdout')
    .option('-q, --quiet', 'errors only')
    .action(async (files: string[], opts: { json?: boolean; quiet?: boolean }) => {
      const log = createLogger({ quiet: opts.quiet === true });
      let code: number = EXIT.OK;
      // A reader that closes stdout early must not stop the migration between two files.
      await whileWritingFiles(async () => {
      for (const file of files) {
        try {
          const r = await migrateMasterCsv(file);
          if (opts.json) printJsonLine(r);
          else if (r.status === 'already-current') log.info(`${file}: already in the current layout (${r.rows} rows), unchanged`);
          else log.info(`${file}: migrated ${r.rows} rows from ${r.fromColumns} to ${r.toColumns} columns; backup ${r.backup}`);
        } catch (e) {
          if (opts.json) printJsonLine({ file, status: 'refused', error: messageFor(e) });
          log.error(messageFor(e));
          code = exitCodeFor(e) === EXIT.INTERNAL ? EXIT.INTERNAL : EXIT.RESULTS_FILE;
        }
      }
      });
      process.exitCode = code;
    });
}
