// SIGINT/SIGTERM → abort: stop issuing, cancel in-flight requests, write what finished, exit
// non-zero. A second signal, or the 2 s deadline, exits at once without waiting for cleanup.
import { performance } from 'node:perf_hooks';
import { EXIT, type ExitCode } from './errors.js';

/**
 * A signal this soon after the first is the same interrupt delivered twice, not a user asking
 * to skip cleanup: coreutils `timeout` signals the process and then its whole process group,
 * and supervisors do the same; exiting on it lost every result file but the JSONL.
 */
export const DUPLICATE_SIGNAL_MS = 250;

export interface InterruptHandle {
  signal: AbortSignal;
  /** Exit code to use if the signal fired (null = not interrupted). */
  exitCode(): ExitCode | null;
  dispose(): void;
}

export function installInterruptHandler(opts: { deadlineMs?: number; onSignal?: (name: string) => void } = {}): InterruptHandle {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  let receivedAtMs = 0;
  const handler = (sig: NodeJS.Signals) => {
    const code = sig === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
    if (received) {
      if (performance.now() - receivedAtMs < DUPLICATE_SIGNAL_MS) return;
      process.exit(code);
    }
    received = sig;
    receivedAtMs = performance.now();
    opts.onSignal?.(sig);
    controller.abort(new Error(`interrupted by ${sig}`));
    // Writing finished results takes milliseconds; never hang past the deadline.
    setTimeout(() => process.exit(code), opts.deadlineMs ?? 1800).unref();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    exitCode: () => (received === null ? null : received === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED),
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
