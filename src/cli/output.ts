// Logs go to stderr (so --json stdout stays machine-readable); --quiet keeps errors only.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(opts: { quiet?: boolean } = {}): Logger {
  const write = (m: string) => process.stderr.write(`${m}\n`);
  return {
    info: (m) => { if (!opts.quiet) write(m); },
    warn: (m) => { if (!opts.quiet) write(`warning: ${m}`); },
    error: (m) => write(`error: ${m}`),
  };
}

/** One JSON object per line on stdout; bigints as decimal strings. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}
