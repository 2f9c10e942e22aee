// Progress on a TTY (cli-progress bar: requests done, tokens/s, elapsed, ETA) and plain log
// lines otherwise (every 10% and at the end). Nothing when quiet.
import cliProgress from 'cli-progress';
import type { RequestRecord } from '../backends/types.js';
import type { ProgressEvent } from '../runner/runner.js';
import type { Logger } from './output.js';

export interface ProgressReporter {
  update(e: ProgressEvent): void;
  /** One line per finished request: TTFT and total time (warmup marked). */
  record(r: RequestRecord): void;
  stop(): void;
}

const seconds = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(4)} s`);

export function requestLine(r: RequestRecord): string {
  const what = `${r.warmup ? 'warmup ' : ''}prompt ${r.index}`;
  if (!r.success) return `${what}: FAILED (${r.error ?? 'unknown error'})`;
  return `${what}: TTFT ${seconds(r.ttftMs)}, total ${seconds(r.e2eMs)}, ${r.completionTokens ?? 'n/a'} tokens`;
}

export function createProgress(label: string, log: Logger, opts: { quiet?: boolean; tty?: boolean } = {}): ProgressReporter {
  if (opts.quiet) return { update: () => undefined, record: () => undefined, stop: () => undefined };
  const tty = opts.tty ?? process.stderr.isTTY === true;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} {phase} [{bar}] {value}/{total} | {failed} failed | {tps} tok/s | {secs} s elapsed | ETA {eta_text}`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(e) {
        // Our own ETA: cli-progress prints NULL/INF placeholders before its rate estimate settles.
        const eta = e.done > 0 && e.done < e.total ? `${Math.round((e.elapsedSeconds / e.done) * (e.total - e.done))} s` : e.done >= e.total ? '0 s' : '-';
        const payload = {
          phase: e.phase, failed: e.failed, secs: e.elapsedSeconds.toFixed(0), eta_text: eta,
          tps: e.elapsedSeconds > 0 ? (e.completionTokens / e.elapsedSeconds).toFixed(1) : '0.0',
        };
        if (!started) {
          bar.start(e.total, e.done, payload);
          started = true;
        }
        bar.setTotal(e.total);
        bar.update(e.done, payload);
      },
      record(r) {
        // Clear the bar's line, print above it; the bar redraws on its next update.
        process.stderr.write(`\r\x1b[K${requestLine(r)}\n`);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastDecile = -1;
  return {
    update(e) {
      if (e.phase !== 'measured') return;
      const decile = Math.floor((e.done / e.total) * 10);
      if (decile === lastDecile && e.done !== e.total) return;
      lastDecile = decile;
      const tps = e.elapsedSeconds > 0 ? (e.completionTokens / e.elapsedSeconds).toFixed(1) : '0.0';
      log.info(`${label}: ${e.done}/${e.total} requests (${e.failed} failed), ${tps} tok/s, ${e.elapsedSeconds.toFixed(1)} s`);
    },
    record: (r) => log.info(requestLine(r)),
    stop: () => undefined,
  };
}
