// Issues work items under a load plan. The driver knows nothing about backends: `run` is
// called once per item with its queue time and must settle (never reject) — the runner turns
// every outcome into a record. Stopping (signal or shouldStop) ends issuing; items already
// in flight are awaited, so the caller decides whether to cancel them.
import { arrivalOffsetsNs, validateLoadPlan, type LoadPlan } from './plan.js';
import { nowNs, sleepUntil } from './timer.js';

export interface DispatchContext {
  /** Position of the item in the issue order. */
  seq: number;
  /** When the item was due (rate mode: its arrival time; closed loop: when a slot freed). */
  scheduledNs: bigint;
  /** When it was handed to `run`. */
  dispatchNs: bigint;
  /** dispatch − scheduled, in ms (waiting for a free slot under a concurrency cap). */
  queueMs: number;
}

export interface DriveOptions<T> {
  items: readonly T[];
  plan: LoadPlan;
  run: (item: T, ctx: DispatchContext) => Promise<void>;
  /** Aborting stops issuing new items. */
  signal?: AbortSignal;
  /** Checked before each dispatch (e.g. too many consecutive failures). */
  shouldStop?: () => boolean;
}

export interface DriveResult {
  issued: number;
  firstDispatchNs: bigint | null;
}

const nsToMs = (ns: bigint) => Number(ns) / 1e6;

/** Counting semaphore whose waiters are released in FIFO order. */
class Slots {
  private free: number;
  private waiters: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== grant);
        resolve(false);
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

export async function driveLoad<T>(opts: DriveOptions<T>): Promise<DriveResult> {
  const plan = validateLoadPlan(opts.plan);
  const stopped = () => opts.signal?.aborted === true || opts.shouldStop?.() === true;
  // Ends the wait for the next arrival or slot as soon as issuing must stop: on the caller's
  // signal, or when a settled item makes shouldStop true (else a rate run would sit until its
  // next arrival, seconds at low rates, with the energy window open).
  const wake = new AbortController();
  const onAbort = () => wake.abort();
  if (opts.signal?.aborted) wake.abort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const inFlight = new Set<Promise<void>>();
  let issued = 0;
  let firstDispatchNs: bigint | null = null;

  const dispatch = (item: T, scheduledNs: bigint, slots: Slots) => {
    const dispatchNs = nowNs();
    firstDispatchNs ??= dispatchNs;
    const ctx: DispatchContext = { seq: issued++, scheduledNs, dispatchNs, queueMs: nsToMs(dispatchNs - scheduledNs) };
    const p = opts.run(item, ctx).finally(() => {
      inFlight.delete(p);
      slots.release();
      if (opts.shouldStop?.() === true) wake.abort();
    });
    inFlight.add(p);
  };

  if (plan.mode === 'rate') {
    const slots = new Slots(plan.maxConcurrency ?? Number.MAX_SAFE_INTEGER);
    const offsets = arrivalOffsetsNs(plan, opts.items.length);
    const startNs = nowNs();
    for (let i = 0; i < opts.items.length; i++) {
      const due = startNs + offsets[i]!;
      if (stopped() || !(await sleepUntil(due, wake.signal))) break;
      if (!(await slots.acquire(wake.signal)) || stopped()) break;
      dispatch(opts.items[i]!, due, slots);
    }
  } else {
    const n = plan.mode === 'sequential' ? 1 : plan.concurrency;
    const slots = new Slots(n);
    for (let i = 0; i < opts.items.length; i++) {
      if (!(await slots.acquire(wake.signal))) break;
      if (stopped()) {
        slots.release();
        break;
      }
      // A closed loop's item comes into being when a slot frees: it never queues.
      dispatch(opts.items[i]!, nowNs(), slots);
    }
  }
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  opts.signal?.removeEventListener('abort', onAbort);
  return { issued, firstDispatchNs };
}
