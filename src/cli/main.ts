#!/usr/bin/env node
// The `aeb` command line. One command per file under ./commands; each exports
// `register(program)`. Errors are mapped to messages and exit codes in ./errors.ts.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { EXIT, exitCodeFor, messageFor } from './errors.js';
import { installPipeGuards } from './output.js';

/** The package's version, read from its package.json at run time (dist/cli/ and src/cli/ are both two levels down). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

installPipeGuards();
const program = new Command();
program
  .name('aeb')
  .description('ai-energy-benchmarks: time and energy of LLM inference (native libtorch engine or OpenAI-compatible server)')
  .version(packageVersion(), '-V, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();
registerCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help/version text).
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    process.stderr.write(`error: ${messageFor(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
