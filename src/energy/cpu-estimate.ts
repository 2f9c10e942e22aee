// CPU energy estimate for machines without RAPL: busy CPU core-seconds of the whole system
// (so a local inference server is included) × a per-core power figure. Always labelled
// scope 'estimated-cpu', method 'estimated'; it is a model, not a measurement.

import { cpus } from 'node:os';

import type { EnergyProbe, ProbeFigure, SensorDescription } from './probe.js';

/**
 * Default watts per busy core: a TDP-based figure (a typical server CPU's TDP divided by its
 * core count is ~5–12 W; CodeCarbon's fallback is 85 W TDP for a whole CPU). Configure TDP ÷
 * cores of the actual CPU for a better estimate (see CPU_WATTS_SETTING).
 */
export const DEFAULT_CPU_WATTS_PER_CORE = 10;

/** Where users set the watts per core: config key, command-line flag, TypeScript API option. */
export const CPU_WATTS_SETTING = 'metrics.cpu_watts_per_core (config), --cpu-watts-per-core (command line) or cpuWattsPerCore (TypeScript API)';

/** Busy (non-idle) CPU milliseconds summed over all cores since boot. */
export type BusyCpuMs = () => number;

export const systemBusyCpuMs: BusyCpuMs = () =>
  cpus().reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0);

/** os.cpus() times come from /proc/stat in USER_HZ ticks: 10 ms per core. */
const SYSTEM_TICK_MS = 10;

export class CpuEstimateProbe implements EnergyProbe {
  private startMs: number | undefined;
  /**
   * How far one reading of the counter can be below the truth (ms of busy time): a tick per
   * core for the system counter; 0 for a counter given by the caller unless it says otherwise.
   */
  private readonly resolutionMs: number;

  constructor(
    private readonly wattsPerCore = DEFAULT_CPU_WATTS_PER_CORE,
    private readonly busyMs: BusyCpuMs = systemBusyCpuMs,
    resolutionMs?: number,
  ) {
    this.resolutionMs = resolutionMs ?? (busyMs === systemBusyCpuMs ? SYSTEM_TICK_MS * cpus().length : 0);
    if (!(wattsPerCore > 0 && Number.isFinite(wattsPerCore))) {
      throw new RangeError(`energy cpuWattsPerCore: ${wattsPerCore} is not a positive number of watts`);
    }
  }

  private get source(): string {
    return `system CPU time × ${this.wattsPerCore} W/core`;
  }

  private get reason(): string {
    return `estimated (no CPU energy sensor): busy core-seconds × ${this.wattsPerCore} W per core; set ${CPU_WATTS_SETTING} to the CPU's TDP ÷ cores`;
  }

  async describe(): Promise<SensorDescription[]> {
    return [{ scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: this.source, reason: this.reason }];
  }

  async begin(): Promise<void> {
    this.startMs = this.busyMs();
  }

  async end(): Promise<ProbeFigure[]> {
    if (this.startMs === undefined) throw new Error('CPU estimate window was not started');
    const busyMs = Math.max(0, this.busyMs() - this.startMs);
    this.startMs = undefined;
    // Both readings may be short by up to the resolution: below twice that spread (an error
    // over 50 %, or a window that read 0), there is no estimate to give, and 0 J would be a lie.
    const spreadMs = 2 * this.resolutionMs;
    if (spreadMs > 0 && busyMs < 2 * spreadMs) {
      return [{
        scope: 'estimated-cpu', method: 'estimated', status: 'invalid', source: this.source, joules: null,
        reason: `${busyMs} ms of busy CPU time in the window against ±${spreadMs} ms from the CPU-time counters ` +
          `(up to ${this.resolutionMs} ms per reading): too little to estimate from; a longer run, or RAPL, gives a figure`,
      }];
    }
    return [
      { scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: this.source, joules: (busyMs / 1000) * this.wattsPerCore, reason: this.reason },
    ];
  }

  close(): void {}
}
