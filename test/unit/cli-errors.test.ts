import { CommanderError } from 'commander';
import { expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { CliError, EXIT, exitCodeFor, messageFor } from '../../src/cli/errors.js';
import { ResultsFileError } from '../../src/results/master-csv.js';
import { RunSetupError } from '../../src/runner/runner.js';
import { ChatTemplateError } from '../../src/text/chat-template.js';
import { TokenizerLoadError } from '../../src/text/tokenizer.js';

it('maps errors to the documented exit codes', () => {
  expect(exitCodeFor(new ConfigError('bad'))).toBe(EXIT.USAGE);
  expect(exitCodeFor(new ResultsFileError('old header'))).toBe(EXIT.RESULTS_FILE);
  expect(exitCodeFor(new RunSetupError('server down'))).toBe(EXIT.RUN_FAILED);
  const addon = Object.assign(new Error('The native addon is not built'), { code: 'ADDON_NOT_BUILT' });
  expect(exitCodeFor(new RunSetupError('backend native failed to open', { cause: addon }))).toBe(EXIT.MISSING_COMPONENT);
  expect(exitCodeFor(new CliError('x', EXIT.PARTIAL))).toBe(EXIT.PARTIAL);
  expect(exitCodeFor(new CommanderError(1, 'commander.unknownCommand', 'unknown command'))).toBe(EXIT.USAGE);
  // A broken tokenizer.json or chat template is the user's input, not a bug of ours.
  expect(exitCodeFor(new ChatTemplateError('chat_template failed to render: template says no'))).toBe(EXIT.USAGE);
  expect(exitCodeFor(new TokenizerLoadError('tokenizer.json is not valid JSON'))).toBe(EXIT.USAGE);
  expect(messageFor(new ChatTemplateError('chat_template failed to render'))).toBe('chat_template failed to render');
  expect(exitCodeFor(new Error('oops'))).toBe(EXIT.INTERNAL);
  expect(messageFor(new Error('oops'))).toMatch(/^internal error: Error: oops/);
  expect(messageFor(new ConfigError('scenario.num_samples: too small'))).toBe('scenario.num_samples: too small');
});
