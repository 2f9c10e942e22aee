// Client self-calibration: how much time the client itself adds to TTFT, measured against an
// in-process emulator on 127.0.0.1 whose first-token write time is known exactly (same
// process, same monotonic clock). The runner reports the figure beside its results.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createOpenAIBackend } from './backend.js';
import type { SocketPlacement } from './h1/socket-thread.js';
import { startOpenAIEmulator } from './emulator.js';
import { buildStream } from './emulator-script.js';
import { quantiles, type Quantiles } from './quantiles.js';

export interface CalibrationOptions {
  /** Requests to time (default 200). */
  requests?: number;
  /** Requests in flight at once (default 1). */
  concurrency?: number;
  /** Emulated server-side time to the first token, ms (default 2). */
  firstTokenDelayMs?: number;
  /** Emulated output tokens per request (default 8). */
  tokens?: number;
  /** Socket placement to calibrate: the run's own (default 'auto', as the backend). */
  socketThread?: SocketPlacement | 'auto';
}

export interface ClientCalibration {
  requests: number;
  concurrency: number;
  failed: number;
  /** Client-observed first-content stamp − the emulator's first-token write stamp, ms. */
  clientAddedTtftMs: Quantiles;
  /** Event-loop delay during the calibration (perf_hooks.monitorEventLoopDelay), ms. */
  eventLoopDelayMs: Quantiles & { stddev: number | null };
  /** Where the calibrated client read and stamped its sockets ('worker' or 'main'). */
  socketThread: string | null;
  description: string;
}

export async function calibrateClient(opts: CalibrationOptions = {}): Promise<ClientCalibration> {
  const requests = opts.requests ?? 200;
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(requests) || requests < 1) throw new RangeError(`requests must be a positive integer (got ${requests})`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer (got ${concurrency})`);
  const tokens = Array.from({ length: opts.tokens ?? 8 }, (_, i) => `t${i} `);
  const firstTokenDelayMs = opts.firstTokenDelayMs ?? 2;
  const emulator = await startOpenAIEmulator({
    respond: () => ({ steps: buildStream({ tokens, firstTokenDelayMs }).steps }),
  });
  const backend = createOpenAIBackend({
    endpoint: emulator.url,
    maxSockets: concurrency,
    requestTimeoutMs: 30_000,
    socketThread: opts.socketThread ?? 'auto',
  });
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const added: number[] = [];
  let failed = 0;
  let socketThread: string | null = null;
  try {
    const opened = await backend.open();
    socketThread = typeof opened.details?.['socketThread'] === 'string' ? opened.details['socketThread'] : null;
    const settings = { maxNewTokens: tokens.length, minNewTokens: 0, temperature: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < requests) {
        const i = next++;
        const key = `calibration-${i}`;
        const rec = await backend.generate({ index: i, text: key }, settings);
        const truth = emulator.entry(key)?.firstTokenWriteNs ?? null;
        if (!rec.success || rec.ttftMs === null || truth === null) {
          failed++;
          continue;
        }
        const clientFirstNs = rec.startNs + BigInt(Math.round(rec.ttftMs * 1e6));
        added.push(Number(clientFirstNs - truth) / 1e6);
      }
    };
    histogram.enable();
    await Promise.all(Array.from({ length: concurrency }, worker));
    histogram.disable();
  } finally {
    await backend.close();
    await emulator.close();
  }
  const ms = (ns: number): number | null => (Number.isFinite(ns) ? ns / 1e6 : null);
  const loop = histogram.count > 0
    ? {
        n: histogram.count,
        mean: ms(histogram.mean),
        min: ms(histogram.min),
        p50: ms(histogram.percentile(50)),
        p90: ms(histogram.percentile(90)),
        p99: ms(histogram.percentile(99)),
        max: ms(histogram.max),
        stddev: ms(histogram.stddev),
      }
    : { ...quantiles([]), stddev: null };
  return {
    requests,
    concurrency,
    failed,
    clientAddedTtftMs: quantiles(added),
    eventLoopDelayMs: loop,
    socketThread,
    description:
      'client-added TTFT = client first-content stamp − in-process emulator first-token write stamp (127.0.0.1, same clock); ' +
      'event-loop delay from perf_hooks.monitorEventLoopDelay (1 ms resolution, includes the timer resolution)',
  };
}
