#!/usr/bin/env node
// The `aeb` command line. One command per file under ./commands; each exports
// `register(program)`. Errors are mapped to messages and exit codes in ./errors.ts.
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command();
program
  .name('aeb')
  .description('ai-energy-benchmarks: time and energy of LLM inference (native libtorch engine or OpenAI-compatible server)')
  .showHelpAfterError();
registerCommands(program);
await program.parseAsync(process.argv);
