// Exit codes and the one place errors become messages. Commands throw; main.ts maps.
import { CommanderError } from 'commander';

export const EXIT = {
  /** Every run completed and every request succeeded. */
  OK: 0,
  /** Unexpected internal error (a bug: please report it with the message). */
  INTERNAL: 1,
  /** Bad command line, configuration, models CSV or dataset option. */
  USAGE: 2,
  /** A run could not start or failed as a whole (backend/model/server unavailable, dataset missing). */
  RUN_FAILED: 3,
  /** Runs completed but some requests failed, or a run stopped after consecutive failures. */
  PARTIAL: 4,
  /** A results file cannot be written or migrated (foreign/old header, lock held, verification failed). */
  RESULTS_FILE: 5,
  /** A required component is missing (native addon not built, module not installed). */
  MISSING_COMPONENT: 6,
  /** Interrupted by SIGINT (Ctrl-C); finished results were written. */
  INTERRUPTED: 130,
  /** Terminated by SIGTERM; finished results were written. */
  TERMINATED: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error with a chosen exit code and a message meant for the user (no stack). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, readonly exitCode: ExitCode = EXIT.USAGE, options?: ErrorOptions) {
    super(message, options);
  }
}

const BY_NAME: Record<string, ExitCode> = {
  ConfigError: EXIT.USAGE,
  OverrideError: EXIT.USAGE,
  ModelsCsvError: EXIT.USAGE,
  DatasetError: EXIT.USAGE,
  ReasoningValueError: EXIT.USAGE,
  // The model's own files (tokenizer.json, its chat template) are input like a config.
  TokenizerLoadError: EXIT.USAGE,
  ChatTemplateError: EXIT.USAGE,
  RunSetupError: EXIT.RUN_FAILED,
  ResultsFileError: EXIT.RESULTS_FILE,
  CsvFormatError: EXIT.RESULTS_FILE,
  LockTimeoutError: EXIT.RESULTS_FILE,
  ZodError: EXIT.USAGE,
};

/** True when `err` or one of its causes is a missing native addon / module. */
function missingComponent(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'ADDON_NOT_BUILT' || e.code === 'ADDON_LOAD_FAILED' || e.code === 'ERR_MODULE_NOT_FOUND') return true;
  }
  return false;
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (missingComponent(err)) return EXIT.MISSING_COMPONENT;
  if (err instanceof CommanderError) return (err.exitCode === 0 ? EXIT.OK : EXIT.USAGE) as ExitCode;
  const e = err as { name?: string } | null;
  if (e?.name && e.name in BY_NAME) return BY_NAME[e.name]!;
  if (err instanceof RangeError || err instanceof TypeError) return EXIT.USAGE;
  return EXIT.INTERNAL;
}

export function messageFor(err: unknown): string {
  if (err instanceof Error) {
    const code = exitCodeFor(err);
    return code === EXIT.INTERNAL ? `internal error: ${err.stack ?? err.message}` : err.message;
  }
  return String(err);
}
