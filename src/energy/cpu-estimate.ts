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

export class CpuEstimateProbe implements EnergyProbe {
  private startMs: number | undefined;

  constructor(
    private readonly wattsPerCore = DEFAULT_CPU_WATTS_PER_CORE,
    private readonly busyMs: BusyCpuMs = systemBusyCpuMs,
  ) {
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
    const busyS = Math.max(0, this.busyMs() - this.startMs) / 1000;
    this.startMs = undefined;
    return [
      { scope: 'estimated-cpu', method: 'estimated', status: 'ok', source: this.source, joules: busyS * this.wattsPerCore, reason: this.reason },
    ];
  }

  close(): void {}
}
