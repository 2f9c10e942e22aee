// Load-generator timing benchmark: can the rate-mode scheduler hold ≥ 1,000 requests/s on
// this machine without drift? Issues no-op requests against absolute arrival targets and
// reports the achieved rate and how late each dispatch was (queue time = dispatch − due).
// Run after a build: node dist/load/bench.js [rate=2000] [count=10000]
import { describe } from '../runner/stats.js';
import { driveLoad } from './driver.js';
import type { ArrivalProcess } from './plan.js';
import { nowNs } from './timer.js';

export interface TimerBenchResult {
  arrival: ArrivalProcess;
  targetRate: number;
  achievedRate: number;
  count: number;
  latenessMs: ReturnType<typeof describe>;
}

export async function benchTimer(rate: number, count: number, arrival: ArrivalProcess): Promise<TimerBenchResult> {
  const lateness: number[] = [];
  const items = Array.from({ length: count }, (_, i) => i);
  const t0 = nowNs();
  let last = t0;
  await driveLoad({
    items,
    plan: { mode: 'rate', rate, arrival, seed: 1 },
    run: async (_i, ctx) => {
      lateness.push(ctx.queueMs);
      last = ctx.dispatchNs;
    },
  });
  const seconds = Number(last - t0) / 1e9;
  return { arrival, targetRate: rate, achievedRate: (count - 1) / seconds, count, latenessMs: describe(lateness) };
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
        `dispatch lateness ms: mean ${l.mean?.toFixed(3)} p50 ${l.median?.toFixed(3)} p99 ${l.p99?.toFixed(3)} max ${l.max?.toFixed(3)}\n`,
    );
  }
}
