// Background GPU telemetry: polls NVML at a fixed rate (default 10 Hz) for the report's
// timeline and feeds power readings to integrating windows. The timer is unref'd, so the
// sampler never keeps the process alive; a tick is skipped while the previous read is pending.

import type { NvmlReading, NvmlSession } from './nvml-adapter.js';

export interface GpuTelemetry {
  source: string;
  powerW: number | null;
  powerLimitW: number | null;
  utilGpuPct: number | null;
  utilMemPct: number | null;
  memUsedMiB: number | null;
  memTotalMiB: number | null;
  temperatureC: number | null;
  smClockMHz: number | null;
  memClockMHz: number | null;
}

/** One timeline row (JSON-serialisable). */
export interface TelemetrySample {
  /** Seconds since the monitor started. */
  t: number;
  /** process.hrtime.bigint() of the read, as a decimal string: joins with RequestRecord stamps. */
  monoNs: string;
  unixMs: number;
  gpus: GpuTelemetry[];
}

export type PowerListener = (readings: NvmlReading[]) => void;

const MIB = 1024 * 1024;

function toTelemetry(source: string, r: NvmlReading | undefined): GpuTelemetry {
  const v = (k: keyof NvmlReading['values'], scale = 1): number | null => {
    const x = r?.values[k];
    return typeof x === 'number' ? x / scale : null;
  };
  return {
    source,
    powerW: v('powerMw', 1000),
    powerLimitW: v('powerLimitMw', 1000),
    utilGpuPct: v('utilGpuPct'),
    utilMemPct: v('utilMemPct'),
    memUsedMiB: v('memUsedBytes', MIB),
    memTotalMiB: v('memTotalBytes', MIB),
    temperatureC: v('temperatureC'),
    smClockMHz: v('clockSmMhz'),
    memClockMHz: v('clockMemMhz'),
  };
}

export interface SamplerOptions {
  hz: number;
  /** Timeline rows kept (the oldest tenth is dropped beyond this); default 1,000,000 (≈ 28 h at 10 Hz). */
  maxSamples?: number;
}

export class GpuSampler {
  private timer: NodeJS.Timeout | undefined;
  private pending = false;
  private readonly rows: TelemetrySample[] = [];
  private readonly listeners = new Set<PowerListener>();
  private readonly origin = process.hrtime.bigint();
  private readonly maxSamples: number;
  /** Ticks skipped because the previous read was still pending. */
  skipped = 0;
  /** Last read error (the sampler keeps going). */
  lastError: string | undefined;

  constructor(
    private readonly session: NvmlSession,
    private readonly devices: ReadonlyArray<{ nvmlIndex: number; label: string }>,
    private readonly options: SamplerOptions,
  ) {
    if (!(options.hz > 0 && options.hz <= 1000)) {
      throw new RangeError(`energy sampleHz: ${options.hz} is not in (0, 1000]`);
    }
    this.maxSamples = options.maxSamples ?? 1_000_000;
  }

  get hz(): number {
    return this.options.hz;
  }

  start(): void {
    if (this.timer || this.devices.length === 0) return;
    this.timer = setInterval(() => void this.tick(), 1000 / this.options.hz);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  onPower(listener: PowerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  timeline(): TelemetrySample[] {
    return [...this.rows];
  }

  /** One read of every device; public so tests and benchmarks can drive it directly. */
  async tick(): Promise<void> {
    if (this.pending) {
      this.skipped++;
      return;
    }
    this.pending = true;
    try {
      const readings = await this.session.read(
        this.devices.map((d) => d.nvmlIndex),
        ['power', 'powerLimit', 'utilization', 'memory', 'temperature', 'clocks'],
      );
      const tNs = readings[0]?.tNs ?? process.hrtime.bigint();
      this.rows.push({
        t: Number(tNs - this.origin) / 1e9,
        monoNs: tNs.toString(),
        unixMs: Date.now(),
        gpus: this.devices.map((d) =>
          toTelemetry(d.label, readings.find((r) => r.index === d.nvmlIndex)),
        ),
      });
      // Drop the oldest tenth at once (amortised O(1) per row).
      if (this.rows.length > this.maxSamples) this.rows.splice(0, Math.ceil(this.maxSamples / 10));
      for (const l of this.listeners) l(readings);
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
    } finally {
      this.pending = false;
    }
  }
}
