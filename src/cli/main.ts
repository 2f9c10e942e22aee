#!/usr/bin/env node
// The `aeb` command line. One command per file under ./commands; each exports
// `register(program)`. Errors are mapped to messages and exit codes in ./errors.ts.
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { EXIT, exitCodeFor, messageFor } from './errors.js';
import { installPipeGuards } from './output.js';
import { packageVersion } from '../version.js';

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
