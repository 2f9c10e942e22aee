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
      if (plan.burstiness !== undefined && !(plan.burstiness > 0))
        throw new RangeError(`load.burstiness must be > 0, got ${plan.burstiness}`);
      if (plan.maxConcurrency !== undefined && (!Number.isInteger(plan.maxConcurrency) || plan.maxConcurrency < 1))
        throw new RangeError(`load.max_concurrency must be an integer >= 1, got ${plan.maxConcurrency}`);
      return plan;
    default:
      throw new RangeError(`load.mode must be one of sequential, concurrency, rate; got ${String((plan as { mode: unknown }).mode)}`);
  }
}

/**
 * Offsets (ns, from the start of the measured phase) at which each of `count` requests is
 * due. Absolute offsets, not gaps, so timer lateness never accumulates.
 */
export function arrivalOffsetsNs(plan: Extract<LoadPlan, { mode: 'rate' }>, count: number): bigint[] {
  const meanGapS = 1 / plan.rate;
  const rng = seededRng(plan.seed ?? 0);
  const shape = plan.arrival === 'poisson' ? 1 : plan.burstiness ?? 1;
  const out: bigint[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    out.push(BigInt(Math.round(t * 1e9)));
    t += plan.arrival === 'constant' ? meanGapS : gammaSample(rng, shape, meanGapS / shape);
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
