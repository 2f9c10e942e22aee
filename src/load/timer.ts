// Waiting for an absolute process.hrtime.bigint() target. Timers fire late by up to a few ms;
// scheduling against absolute targets (not gaps) means lateness never accumulates, and the
// final millisecond is waited out with setImmediate turns so the event loop keeps running.
// Those turns spin: a wider margin buys little precision for a lot of CPU (bench:load: 2 ms
// cost 1.85 ms CPU per dispatch at 100/s, 1 ms costs 0.86 ms, with p50 lateness 7 µs both),
// and at low rates that CPU would show in the energy figures.

const COARSE_MARGIN_NS = 1_000_000n;
/** setTimeout's longest delay (2^31 − 1 ms): a longer wait is taken in steps of this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Resolves at (or just after) `targetNs`; resolves early (false) when `signal` aborts. */
export function sleepUntil(targetNs: bigint, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (nowNs() >= targetNs) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const onAbort = () => finish(false);
    const finish = (ok: boolean) => {
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      signal?.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const step = () => {
      timer = undefined;
      immediate = undefined;
      const left = targetNs - nowNs();
      if (left <= 0n) return finish(true);
      if (left > COARSE_MARGIN_NS) timer = setTimeout(step, Math.min(MAX_TIMER_MS, Number((left - COARSE_MARGIN_NS) / 1_000_000n)));
      else immediate = setImmediate(step);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    step();
  });
}
