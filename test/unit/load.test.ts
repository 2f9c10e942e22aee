import { expect, it } from 'vitest';
import { driveLoad } from '../../src/load/driver.js';
import { arrivalOffsetsNs, validateLoadPlan } from '../../src/load/plan.js';
import { seededRng } from '../../src/load/random.js';
import { sleepUntil } from '../../src/load/timer.js';

const items = (n: number) => Array.from({ length: n }, (_, i) => i);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tracker() {
  const t = { inFlight: 0, max: 0, order: [] as number[], queue: [] as number[] };
  const run = async (i: number, ms: number, ctx: { queueMs: number }) => {
    t.inFlight++;
    t.max = Math.max(t.max, t.inFlight);
    t.order.push(i);
    t.queue.push(ctx.queueMs);
    await wait(ms);
    t.inFlight--;
  };
  return { t, run };
}

it('sequential issues one at a time in dataset order', async () => {
  const { t, run } = tracker();
  const r = await driveLoad({ items: items(6), plan: { mode: 'sequential' }, run: (i, ctx) => run(i, 3, ctx) });
  expect(r.issued).toBe(6);
  expect(t.max).toBe(1);
  expect(t.order).toEqual([0, 1, 2, 3, 4, 5]);
});

it('fixed concurrency keeps exactly N in flight', async () => {
  const { t, run } = tracker();
  await driveLoad({ items: items(20), plan: { mode: 'concurrency', concurrency: 4 }, run: (i, ctx) => run(i, 10, ctx) });
  expect(t.max).toBe(4);
  expect(t.order).toHaveLength(20);
});

it('rate mode with a concurrency cap measures the wait as queue time', async () => {
  const { t, run } = tracker();
  // 200 req/s constant → due every 5 ms; each takes 40 ms with at most 2 in flight: they queue.
  await driveLoad({ items: items(8), plan: { mode: 'rate', rate: 200, arrival: 'constant', maxConcurrency: 2 }, run: (i, ctx) => run(i, 40, ctx) });
  expect(t.max).toBe(2);
  expect(t.queue[0]!).toBeLessThan(5);
  expect(t.queue[7]!).toBeGreaterThan(70); // item 7 was due at 35 ms but its slot freed at ~120 ms
});

it('uncapped rate mode overlaps requests (open loop)', async () => {
  const { t, run } = tracker();
  await driveLoad({ items: items(10), plan: { mode: 'rate', rate: 500, arrival: 'constant' }, run: (i, ctx) => run(i, 30, ctx) });
  expect(t.max).toBeGreaterThanOrEqual(5);
});

it('arrival schedules are seeded, absolute and have the requested mean rate', () => {
  const plan = { mode: 'rate' as const, rate: 100, arrival: 'poisson' as const, seed: 7 };
  const a = arrivalOffsetsNs(plan, 2000);
  expect(arrivalOffsetsNs(plan, 2000)).toEqual(a);
  expect(arrivalOffsetsNs({ ...plan, seed: 8 }, 2000)).not.toEqual(a);
  const meanGapS = Number(a[a.length - 1]!) / 1e9 / (a.length - 1);
  expect(meanGapS).toBeGreaterThan(0.0093);
  expect(meanGapS).toBeLessThan(0.0107);
  const constant = arrivalOffsetsNs({ mode: 'rate', rate: 1000, arrival: 'constant' }, 4);
  expect(constant).toEqual([0n, 1_000_000n, 2_000_000n, 3_000_000n]);
  // Gamma with burstiness < 1 has a larger spread of gaps than Poisson at the same rate.
  const cv = (xs: bigint[]) => {
    const gaps = xs.slice(1).map((x, i) => Number(x - xs[i]!));
    const m = gaps.reduce((s, g) => s + g, 0) / gaps.length;
    return Math.sqrt(gaps.reduce((s, g) => s + (g - m) ** 2, 0) / gaps.length) / m;
  };
  const bursty = arrivalOffsetsNs({ mode: 'rate', rate: 100, arrival: 'gamma', burstiness: 0.25, seed: 7 }, 4000);
  expect(cv(bursty)).toBeGreaterThan(1.6); // theory: 1/sqrt(0.25) = 2
  expect(cv(a)).toBeGreaterThan(0.9);
  expect(cv(a)).toBeLessThan(1.1); // Poisson: 1
});

it('stops issuing when aborted or told to stop, and waits for in-flight items', async () => {
  const ac = new AbortController();
  const { t, run } = tracker();
  const p = driveLoad({ items: items(100), plan: { mode: 'concurrency', concurrency: 2 }, signal: ac.signal, run: (i, ctx) => run(i, 5, ctx) });
  await wait(30);
  ac.abort();
  const r = await p;
  expect(r.issued).toBeLessThan(100);
  expect(t.inFlight).toBe(0);
  let n = 0;
  const r2 = await driveLoad({ items: items(50), plan: { mode: 'sequential' }, shouldStop: () => n >= 3, run: async () => { n++; } });
  expect(r2.issued).toBe(3);
});

it('validates plans with messages naming the setting', () => {
  expect(() => validateLoadPlan({ mode: 'concurrency', concurrency: 0 })).toThrow(/load.concurrency/);
  expect(() => validateLoadPlan({ mode: 'rate', rate: -1, arrival: 'poisson' })).toThrow(/load.rate/);
  expect(() => validateLoadPlan({ mode: 'rate', rate: 1, arrival: 'uniform' as never })).toThrow(/constant, poisson, gamma/);
});

it('sleepUntil waits for absolute targets and resolves early on abort', async () => {
  const start = process.hrtime.bigint();
  expect(await sleepUntil(start + 15_000_000n)).toBe(true);
  expect(process.hrtime.bigint() - start).toBeGreaterThanOrEqual(15_000_000n);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 5);
  const t0 = Date.now();
  expect(await sleepUntil(process.hrtime.bigint() + 10_000_000_000n, ac.signal)).toBe(false);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(seededRng(1)()).toBe(seededRng(1)());
});
