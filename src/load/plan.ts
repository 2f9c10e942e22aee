// Load plans: how measured requests are issued. Validated here so every entry point
// (config file, CLI flags, library callers) gets the same messages.
import { gammaSample, seededRng } from './random.js';

export type ArrivalProcess = 'constant' | 'poisson' | 'gamma';

export type LoadPlan =
  /** One request at a time, in dataset order (the old system's behaviour). */
  | { mode: 'sequential' }
  /** A closed loop keeping `concurrency` requests in flight. */
  | { mode: 'concurrency'; concurrency: number }
  /**
   * An open loop issuing `rate` requests/s. `poisson` = exponential gaps; `gamma` = gamma gaps
   * with shape `burstiness` (1 = Poisson, < 1 burstier, > 1 smoother). `maxConcurrency` caps
   * requests in flight; arrivals beyond it wait and that wait is reported as queue time.
   */
  | { mode: 'rate'; rate: number; arrival: ArrivalProcess; burstiness?: number; seed?: number; maxConcurrency?: number };

export function validateLoadPlan(plan: LoadPlan): LoadPlan {
  switch (plan.mode) {
    case 'sequential':
      return plan;
    case 'concurrency':
      if (!Number.isInteger(plan.concurrency) || plan.concurrency < 1)
        throw new RangeError(`load.concurrency must be an integer >= 1, got ${plan.concurrency}`);
      return plan;
    case 'rate':
      if (!(plan.rate > 0) || !Number.isFinite(plan.rate)) throw new RangeError(`load.rate must be a number > 0 (requests per second), got ${plan.rate}`);
      if (!['constant', 'poisson', 'gamma'].includes(plan.arrival))
        throw new RangeError(`load.arrival must be one of constant, poisson, gamma; got ${String(plan.arrival)}`);
      // A rate whose gap does not fit in the schedule's ns offsets (below ~1e-7/s: a request every few months).
      if (!Number.isFinite(1e9 / plan.rate) || 1e9 / plan.rate > Number.MAX_SAFE_INTEGER)
        throw new RangeError(`load.rate ${plan.rate} is too small: one request would be due more than ${Math.floor(Number.MAX_SAFE_INTEGER / 1e9 / 86_400)} days after the last`);
      if (plan.burstiness !== undefined && !(plan.burstiness > 0 && Number.isFinite(plan.burstiness)))
        throw new RangeError(`load.burstiness must be a finite number > 0, got ${plan.burstiness}`);
      if (plan.maxConcurrency !== undefined && (!Number.isInteger(plan.maxConcurrency) || plan.maxConcurrency < 1))
        throw new RangeError(`load.max_concurrency must be an integer >= 1, got ${plan.maxConcurrency}`);
      return plan;
    default:
      throw new RangeError(`load.mode must be one of sequential, concurrency, rate; got ${String((plan as { mode: unknown }).mode)}`);
  }
}

/**
 * Offsets (ns, from the start of the measured phase) at which each of `count` requests is
 * due. Absolute offsets, not gaps, so timer lateness never accumulates. Random gaps are scaled
 * together so that their mean is exactly 1/rate (as vLLM's benchmark does): a drawn sample's
 * own mean is off by ±20 % at 20–100 requests, and the run would offer another rate than it
 * is labelled with. The scaling keeps the gaps' shape (burstiness).
 */
export function arrivalOffsetsNs(plan: Extract<LoadPlan, { mode: 'rate' }>, count: number): bigint[] {
  const meanGapS = 1 / plan.rate;
  const gaps: number[] = [];
  if (plan.arrival === 'constant') {
    for (let i = 1; i < count; i++) gaps.push(meanGapS);
  } else {
    const rng = seededRng(plan.seed ?? 0);
    const shape = plan.arrival === 'poisson' ? 1 : plan.burstiness ?? 1;
    for (let i = 1; i < count; i++) gaps.push(gammaSample(rng, shape, meanGapS / shape));
    const drawn = gaps.reduce((a, b) => a + b, 0);
    const scale = drawn > 0 ? (gaps.length * meanGapS) / drawn : 1;
    for (let i = 0; i < gaps.length; i++) gaps[i]! *= scale;
  }
  const out: bigint[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    out.push(BigInt(Math.round(t * 1e9)));
    t += gaps[i] ?? 0;
  }
  return out;
}

export function describeLoadPlan(plan: LoadPlan): string {
  switch (plan.mode) {
    case 'sequential':
      return 'sequential';
    case 'concurrency':
      return `concurrency ${plan.concurrency}`;
    case 'rate':
      return `rate ${plan.rate}/s ${plan.arrival}${plan.arrival === 'gamma' ? ` (burstiness ${plan.burstiness ?? 1})` : ''}` +
        (plan.maxConcurrency ? `, max ${plan.maxConcurrency} in flight` : '');
  }
}
