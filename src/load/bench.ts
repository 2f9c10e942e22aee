// Load-generator timing benchmark: can the rate-mode scheduler hold ≥ 1,000 requests/s on
// this machine without drift? Issues no-op requests against absolute arrival targets and
// reports the achieved rate and how late each dispatch was (queue time = dispatch − due).
// Run after a build: node dist/load/bench.js [rate=2000] [count=10000]
import { describe } from '../runner/stats.js';
import { driveLoad } from './driver.js';
import type { ArrivalProcess } from './plan.js';

export interface TimerBenchResult {
  arrival: ArrivalProcess;
  targetRate: number;
  /** (count − 1) dispatches over the span from the first dispatch to the last. */
  achievedRate: number;
  count: number;
  latenessMs: ReturnType<typeof describe>;
  /** CPU time the process used per dispatch (the timer's final wait is spent in setImmediate turns). */
  cpuUsPerDispatch: number;
}

export async function benchTimer(rate: number, count: number, arrival: ArrivalProcess): Promise<TimerBenchResult> {
  const lateness: number[] = [];
  const items = Array.from({ length: count }, (_, i) => i);
  let first: bigint | null = null;
  let last = 0n;
  const cpu0 = process.cpuUsage();
  await driveLoad({
    items,
    plan: { mode: 'rate', rate, arrival, seed: 1 },
    run: async (_i, ctx) => {
      lateness.push(ctx.queueMs);
      first ??= ctx.dispatchNs;
      last = ctx.dispatchNs;
    },
  });
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(last - (first ?? last)) / 1e9;
  return {
    arrival,
    targetRate: rate,
    achievedRate: (count - 1) / seconds,
    count,
    latenessMs: describe(lateness),
    cpuUsPerDispatch: (cpu.user + cpu.system) / count,
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const rate = Number(process.argv[2] ?? 2000);
  const count = Number(process.argv[3] ?? 10_000);
  for (const arrival of ['constant', 'poisson'] as const) {
    const r = await benchTimer(rate, count, arrival);
    const l = r.latenessMs;
    process.stdout.write(
      `${arrival.padEnd(8)} target ${rate}/s achieved ${r.achievedRate.toFixed(1)}/s over ${count} requests; ` +
        `dispatch lateness ms: mean ${l.mean?.toFixed(3)} p50 ${l.median?.toFixed(3)} p99 ${l.p99?.toFixed(3)} max ${l.max?.toFixed(3)}; ` +
        `CPU ${r.cpuUsPerDispatch.toFixed(0)} µs per dispatch\n`,
    );
  }
}
