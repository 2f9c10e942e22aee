// GPU energy per window: NVML's cumulative energy counter where the GPU has one (Volta and
// newer), otherwise power integrated over the sampler's readings (method 'integrated').
// The caller must synchronise the device (finish queued GPU work) before end(), or the
// tail of the work falls outside the window.

import type { GpuSelection, SelectedGpu } from './gpu-mapping.js';
import type { NvmlReading, NvmlSession } from './nvml-adapter.js';
import { errorMessage, type EnergyProbe, type ProbeFigure, type SensorDescription } from './probe.js';
import type { GpuSampler } from './sampler.js';

/** The energy counter updates every ~20–100 ms; shorter windows read 0 or one step: invalid. */
export const COUNTER_UPDATE_PERIOD_S = 0.1;
/** Integration needs ≥ 10 Hz; gaps above this are flagged. */
const MAX_INTEGRATION_GAP_S = 0.15;

/** Trapezoidal integral of power (mW) over monotonic time (ns). */
export class PowerIntegrator {
  private millijoules = 0;
  private lastT: bigint;
  private lastMw: number;
  samples = 1;
  maxGapS = 0;

  constructor(tNs: bigint, mw: number) {
    this.lastT = tNs;
    this.lastMw = mw;
  }

  add(tNs: bigint, mw: number): void {
    if (tNs <= this.lastT) return; // a sampler read that began before the window
    const dt = Number(tNs - this.lastT) / 1e9;
    this.millijoules += ((this.lastMw + mw) / 2) * dt;
    this.maxGapS = Math.max(this.maxGapS, dt);
    this.lastT = tNs;
    this.lastMw = mw;
    this.samples++;
  }

  get joules(): number {
    return this.millijoules / 1000;
  }
}

type DeviceWindow =
  | { kind: 'counter'; startMj: number }
  | { kind: 'integrated'; integrator: PowerIntegrator; why: string }
  | { kind: 'unavailable'; reason: string };

function valueOf(r: NvmlReading | undefined, key: 'energyMj' | 'powerMw'): number | null {
  const v = r?.values[key];
  return typeof v === 'number' ? v : null;
}

function errorOf(r: NvmlReading | undefined, key: 'energyMj' | 'powerMw'): string {
  return r?.errors[key]?.message ?? 'no reading';
}

function joinReasons(...parts: Array<string | undefined>): string | undefined {
  const text = parts.filter((p): p is string => !!p).join('; ');
  return text || undefined;
}

export class GpuProbe implements EnergyProbe {
  private windows: Map<number, DeviceWindow> | undefined;
  private unsubscribe: (() => void) | undefined;
  private startNs = 0n;

  constructor(
    private readonly session: NvmlSession,
    private readonly selection: GpuSelection,
    private readonly sampler: GpuSampler | null,
  ) {}

  private get indices(): number[] {
    return this.selection.devices.map((d) => d.nvmlIndex);
  }

  private async readAll(): Promise<Map<number, NvmlReading>> {
    if (this.indices.length === 0) return new Map();
    const readings = await this.session.read(this.indices, ['energy', 'power']);
    return new Map(readings.map((r) => [r.index, r]));
  }

  /** How a window starting with reading `r` is measured. */
  private classify(r: NvmlReading | undefined): DeviceWindow {
    const mj = valueOf(r, 'energyMj');
    if (mj !== null) return { kind: 'counter', startMj: mj };
    const mw = valueOf(r, 'powerMw');
    const energyWhy = `energy counter unavailable (${errorOf(r, 'energyMj')})`;
    if (mw !== null && r) {
      return { kind: 'integrated', integrator: new PowerIntegrator(r.tNs, mw), why: energyWhy };
    }
    return { kind: 'unavailable', reason: `${energyWhy}; power unavailable (${errorOf(r, 'powerMw')})` };
  }

  private missing(): ProbeFigure[] {
    return this.selection.unavailable.map((u) => ({
      scope: 'gpu' as const,
      method: 'counter' as const,
      status: 'unavailable' as const,
      source: u.source,
      joules: null,
      reason: u.reason,
    }));
  }

  async describe(): Promise<SensorDescription[]> {
    let readings: Map<number, NvmlReading>;
    try {
      readings = await this.readAll();
    } catch (err) {
      const reason = `NVML read failed: ${errorMessage(err)}`;
      return this.selection.devices
        .map((d): SensorDescription => ({ scope: 'gpu', method: 'counter', status: 'unavailable', source: d.label, reason }))
        .concat(this.missing().map(({ joules: _j, ...rest }) => rest));
    }
    const rows = this.selection.devices.map((d): SensorDescription => {
      const w = this.classify(readings.get(d.nvmlIndex));
      const base = { scope: 'gpu' as const, source: d.label };
      if (w.kind === 'counter') {
        const reason = joinReasons(d.warning);
        return { ...base, method: 'counter', status: 'ok', ...(reason ? { reason } : {}) };
      }
      if (w.kind === 'integrated') {
        const reason = joinReasons(w.why, `power integrated at ${this.sampler?.hz ?? 0} Hz`, d.warning)!;
        return { ...base, method: 'integrated', status: 'ok', reason };
      }
      return { ...base, method: 'counter', status: 'unavailable', reason: w.reason };
    });
    return rows.concat(this.missing().map(({ joules: _j, ...rest }) => rest));
  }

  async begin(): Promise<void> {
    const readings = await this.readAll();
    this.startNs = process.hrtime.bigint();
    const windows = new Map<number, DeviceWindow>();
    for (const d of this.selection.devices) windows.set(d.nvmlIndex, this.classify(readings.get(d.nvmlIndex)));
    this.windows = windows;
    if (this.sampler && [...windows.values()].some((w) => w.kind === 'integrated')) {
      this.unsubscribe = this.sampler.onPower((rs) => {
        for (const r of rs) {
          const w = windows.get(r.index);
          const mw = valueOf(r, 'powerMw');
          if (w?.kind === 'integrated' && mw !== null) w.integrator.add(r.tNs, mw);
        }
      });
    }
  }

  async end(): Promise<ProbeFigure[]> {
    const windows = this.windows;
    if (!windows) throw new Error('GPU energy window was not started');
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.windows = undefined;
    let readings: Map<number, NvmlReading>;
    try {
      readings = await this.readAll();
    } catch (err) {
      // The window's figures are lost, not the window: invalid, and the other probes' stand.
      const why = `GPU read failed at window end (${errorMessage(err)})`;
      return this.selection.devices
        .map((d): ProbeFigure => {
          const w = windows.get(d.nvmlIndex)!;
          const method = w.kind === 'integrated' ? 'integrated' : 'counter';
          const status = w.kind === 'unavailable' ? 'unavailable' : 'invalid';
          return { scope: 'gpu', method, status, source: d.label, joules: null, reason: w.kind === 'unavailable' ? w.reason : why };
        })
        .concat(this.missing());
    }
    const seconds = Number(process.hrtime.bigint() - this.startNs) / 1e9;
    const figures = this.selection.devices.map((d) =>
      this.figure(d, windows.get(d.nvmlIndex)!, readings.get(d.nvmlIndex), seconds),
    );
    return figures.concat(this.missing());
  }

  private figure(d: SelectedGpu, w: DeviceWindow, r: NvmlReading | undefined, seconds: number): ProbeFigure {
    const make = (
      method: ProbeFigure['method'],
      status: ProbeFigure['status'],
      joules: number | null,
      ...reasons: Array<string | undefined>
    ): ProbeFigure => {
      const reason = joinReasons(...reasons, d.warning);
      return { scope: 'gpu', method, status, source: d.label, joules, ...(reason ? { reason } : {}) };
    };
    if (w.kind === 'unavailable') return make('counter', 'unavailable', null, w.reason);
    if (w.kind === 'counter') {
      const endMj = valueOf(r, 'energyMj');
      if (endMj === null) {
        return make('counter', 'invalid', null, `energy counter read failed at window end (${errorOf(r, 'energyMj')})`);
      }
      const delta = endMj - w.startMj;
      if (delta < 0) {
        return make('counter', 'invalid', null,
          `energy counter went backwards (${w.startMj} mJ at start, ${endMj} mJ at end): ` +
            'counter reset (driver reload or GPU reset) during the window');
      }
      // The counter moves in steps of its update period: a shorter window reads 0 or one
      // whole step, whatever the GPU drew. Such a delta is no figure (invalid, never 0 J).
      if (seconds < COUNTER_UPDATE_PERIOD_S) {
        return make('counter', 'invalid', null,
          `window ${seconds.toFixed(3)} s is shorter than the energy counter's update period ` +
            `(~${COUNTER_UPDATE_PERIOD_S * 1000} ms): its delta (${delta} mJ) cannot be trusted; measure a longer window`);
      }
      // A window of two update periods spans at least one update, and a powered GPU never
      // draws 0 mJ in it: an unmoved counter is a stuck one, not 0 J.
      if (delta === 0 && seconds >= 2 * COUNTER_UPDATE_PERIOD_S) {
        return make('counter', 'invalid', null, `energy counter did not move in ${seconds.toFixed(3)} s (stuck counter): no figure, never 0 J`);
      }
      return make('counter', 'ok', delta / 1000);
    }
    const endMw = valueOf(r, 'powerMw');
    if (endMw === null || !r) {
      return make('integrated', 'invalid', null, w.why, `power read failed at window end (${errorOf(r, 'powerMw')})`);
    }
    w.integrator.add(r.tNs, endMw);
    // Fewer than two readings span no time: the integral would be 0 J whatever the GPU drew.
    // Two or more give a trapezoid over the whole window (approximate when sparse, never a
    // quantised 0 as a short counter window is).
    if (w.integrator.samples < 2) {
      return make('integrated', 'invalid', null, w.why,
        `power integrated over ${w.integrator.samples} sample in a ${seconds.toFixed(3)} s window: ` +
          'no reading after the window start, nothing to integrate');
    }
    const slow = w.integrator.maxGapS > MAX_INTEGRATION_GAP_S
      ? `largest gap between power samples ${w.integrator.maxGapS.toFixed(3)} s (below the 10 Hz needed): figure approximate`
      : undefined;
    return make('integrated', 'ok', w.integrator.joules, w.why, `power integrated over ${w.integrator.samples} samples`, slow);
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
