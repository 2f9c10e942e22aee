// Every `aeb` command, one file each.
import type { Command } from 'commander';
import { register as batch } from './batch.js';
import { register as convert } from './convert.js';
import { register as env } from './env.js';
import { register as generate } from './generate.js';
import { register as migrateCsv } from './migrate-csv.js';
import { register as report } from './report.js';
import { register as run } from './run.js';

export function registerCommands(program: Command): void {
  for (const register of [run, batch, generate, convert, migrateCsv, report, env]) register(program);
}
