// Waiting for an absolute process.hrtime.bigint() target. Timers fire late by up to a few ms;
// scheduling against absolute targets (not gaps) means lateness never accumulates, and the
// final sub-2 ms is waited out with setImmediate turns so the event loop keeps running.

const COARSE_MARGIN_NS = 2_000_000n;

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
      if (left > COARSE_MARGIN_NS) timer = setTimeout(step, Number((left - COARSE_MARGIN_NS) / 1_000_000n));
      else immediate = setImmediate(step);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    step();
  });
}
