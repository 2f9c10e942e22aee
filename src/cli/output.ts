// Logs go to stderr (so --json stdout stays machine-readable); --quiet keeps errors only.
// stdout may be a pipe its reader closes early (`aeb report DIR | head -1`): then stdout
// output stops quietly; the process ends at once unless a command is writing files (a run, a
// batch, a migration), which carries on and finishes them (files never depend on stdout or stderr).
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

let stdoutClosed = false;
let writingFiles = 0;

/** Writes to stdout unless its reader has gone away. */
export function writeStdout(text: string): void {
  if (!stdoutClosed) process.stdout.write(text);
}

/** One JSON object per line on stdout; bigints as decimal strings. */
export function printJsonLine(value: unknown): void {
  writeStdout(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

/** Runs `f` (which writes files) with stdout loss tolerated: a closed stdout does not end the process before `f` is done. */
export async function whileWritingFiles<T>(f: () => Promise<T>): Promise<T> {
  writingFiles++;
  try {
    return await f();
  } finally {
    writingFiles--;
  }
}

/** A closed pipe: EPIPE, or a write after the stream was destroyed by one. */
const closedPipe = (err: NodeJS.ErrnoException) => err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED';

/**
 * Installed once by main.ts: a closed stdout pipe ends output quietly, without a stack trace
 * (and the process, unless a command is writing files); a closed stderr loses log lines, never a run.
 */
export function installPipeGuards(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!closedPipe(err)) throw err;
    stdoutClosed = true;
    if (writingFiles === 0) process.exit(process.exitCode ?? 0);
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (!closedPipe(err)) throw err;
  });
}
