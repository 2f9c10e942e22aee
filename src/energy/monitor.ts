// The energy monitor the runner uses: GPU (NVML), CPU package/DRAM (RAPL) or an estimated
// CPU figure, an idle baseline, windows around measured phases and a telemetry timeline.
//
// Caller's duties: synchronise the GPU (all queued work finished) before stopWindow(), and
// keep windows ≥ 100 ms (a shorter GPU counter window is invalid: the counter moves in steps).

import { CpuEstimateProbe, type BusyCpuMs } from './cpu-estimate.js';
import { selectGpus, type GpuRequest } from './gpu-mapping.js';
import { GpuProbe } from './gpu-probe.js';
import { loadAddonNvmlProvider, NvmlOpenError, type NvmlProvider, type NvmlSession } from './nvml-adapter.js';
import { errorMessage, unavailableProbe, type EnergyProbe, type ProbeFigure, type SensorDescription } from './probe.js';
import { DEFAULT_RAPL_ROOT, discoverRapl, RaplProbe, type ReadText } from './rapl.js';
import { GpuSampler } from './sampler.js';
import { NO_LOCAL_GPU_SOURCE } from './types.js';
import type { EnergyFigure, EnergyMonitor, EnergyWindowResult, IdleBaseline } from './types.js';

export interface EnergyMonitorOptions {
  /** GPUs the run uses; default: every GPU visible to CUDA here. `false`: no local GPU. */
  gpu?: GpuRequest | false;
  /** Idle baseline length used by measureIdle() without an argument (default 5 s; 0 skips). */
  idleSeconds?: number;
  /** Telemetry sampling rate (default 10 Hz; 0 disables the timeline and power integration). */
  sampleHz?: number;
  /** powercap sysfs root (default /sys/class/powercap). */
  raplRoot?: string;
  /** NVML library path (default $AEB_NVML_LIBRARY, else libnvidia-ml.so.1). */
  nvmlLibrary?: string;
  /** Watts per busy core for the CPU estimate used when RAPL is unavailable (default 10). */
  cpuWattsPerCore?: number;
  // ---- injection points (tests, benchmarks) ----
  nvml?: NvmlProvider;
  raplReadFile?: ReadText;
  raplPollSeconds?: number;
  busyCpuMs?: BusyCpuMs;
  /** Environment for CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER (default process.env). */
  env?: Record<string, string | undefined>;
}

const NO_LOCAL_GPU =
  'no local GPU named for this run (GPU energy is measured here only when the work runs on this machine: for a local server set backend.device_ids)';

interface Sensors {
  probes: EnergyProbe[];
  sampler: GpuSampler | null;
  session: NvmlSession | null;
}

function gpuUnavailable(reason: string): EnergyProbe {
  return unavailableProbe([{ scope: 'gpu', method: 'counter', source: NO_LOCAL_GPU_SOURCE, reason }]);
}

function checkNumber(name: string, v: number | undefined, min: number, max = Infinity): void {
  if (v !== undefined && !(typeof v === 'number' && v >= min && v <= max)) {
    throw new RangeError(`energy ${name}: ${String(v)} is not a number in [${min}, ${max}]`);
  }
}

async function openGpu(opts: EnergyMonitorOptions, sampleHz: number): Promise<Sensors> {
  if (opts.gpu === false) return { probes: [gpuUnavailable(`unavailable: ${NO_LOCAL_GPU}`)], sampler: null, session: null };
  const provider = opts.nvml ?? loadAddonNvmlProvider();
  let session: NvmlSession;
  try {
    session = provider.open(opts.nvmlLibrary);
  } catch (err) {
    if (!(err instanceof NvmlOpenError)) throw err;
    return { probes: [gpuUnavailable(`unavailable: ${err.message}`)], sampler: null, session: null };
  }
  try {
    const devices = session.devices();
    const selection = selectGpus(devices, opts.gpu ?? {}, opts.env ?? process.env);
    if (selection.devices.length === 0 && selection.unavailable.length === 0) {
      session.close();
      return { probes: [gpuUnavailable(`unavailable: NVML (${session.libraryPath}) reports no GPU`)], sampler: null, session: null };
    }
    const sampler = sampleHz > 0 && selection.devices.length > 0 ? new GpuSampler(session, selection.devices, { hz: sampleHz }) : null;
    return { probes: [new GpuProbe(session, selection, sampler)], sampler, session };
  } catch (err) {
    session.close();
    throw err;
  }
}

async function openSensors(opts: EnergyMonitorOptions, sampleHz: number): Promise<Sensors> {
  const gpu = await openGpu(opts, sampleHz);
  try {
    const discovery = await discoverRapl(opts.raplRoot ?? DEFAULT_RAPL_ROOT, opts.raplReadFile);
    const rapl = new RaplProbe(discovery, opts.raplReadFile, opts.raplPollSeconds);
    gpu.probes.push(rapl);
    if (!rapl.hasPackage) gpu.probes.push(new CpuEstimateProbe(opts.cpuWattsPerCore, opts.busyCpuMs));
    return gpu;
  } catch (err) {
    closeSensors(gpu);
    throw err;
  }
}

function closeSensors(s: Sensors): void {
  s.sampler?.stop();
  for (const p of s.probes) p.close();
  s.session?.close();
}

/** Sleeps `ms`; resolves true when `signal` aborted it first. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sum(figures: ProbeFigure[]): number {
  return figures.reduce((acc, f) => acc + (f.joules ?? 0), 0);
}

/** GPU total: null unless every GPU figure is ok (a partial sum would understate). */
function gpuTotal(figures: ProbeFigure[]): number | null {
  const gpu = figures.filter((f) => f.scope === 'gpu');
  return gpu.length > 0 && gpu.every((f) => f.status === 'ok') ? sum(gpu) : null;
}

/**
 * CPU total: RAPL packages + DRAM when a package was read, else the estimate. Null when any
 * package or DRAM domain that exists is invalid: the scope names every present domain, so a
 * partial sum would understate it. Unavailable DRAM (no such sensor) is not part of it; an
 * unavailable package next to a readable one is (a socket that exists but cannot be read).
 */
function cpuTotal(figures: ProbeFigure[]): number | null {
  const ok = (f: ProbeFigure) => f.status === 'ok';
  const rapl = figures.filter((f) => (f.scope === 'cpu-package' || f.scope === 'dram') && f.status !== 'unavailable');
  if (rapl.some((f) => f.scope === 'cpu-package' && ok(f))) {
    if (figures.some((f) => f.scope === 'cpu-package' && f.status === 'unavailable')) return null;
    return rapl.every(ok) ? sum(rapl) : null;
  }
  const est = figures.filter((f) => f.scope === 'estimated-cpu' && ok(f));
  return est.length > 0 ? sum(est) : null;
}

class Monitor implements EnergyMonitor {
  private baseline: IdleBaseline | null = null;
  /** Method behind each baseline figure: idle subtraction needs the same method in the window. */
  private baselineMethods: Record<string, EnergyFigure['method']> = {};
  private open: { label: string; startNs: bigint } | undefined;
  private busy = false;
  private closed = false;

  constructor(
    private readonly sensors: Sensors,
    private readonly idleSeconds: number,
  ) {
    sensors.sampler?.start();
  }

  private enter(what: string): void {
    if (this.closed) throw new Error(`energy monitor: ${what} after close()`);
    if (this.busy) throw new Error(`energy monitor: ${what} while another operation is in progress`);
  }

  private async beginAll(): Promise<bigint> {
    const before = process.hrtime.bigint();
    const started = await Promise.allSettled(this.sensors.probes.map((p) => p.begin()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Those that began would poll on with nobody to end them.
      await Promise.allSettled(this.sensors.probes.filter((_, i) => started[i]!.status === 'fulfilled').map((p) => p.end()));
      throw failed.reason;
    }
    return (before + process.hrtime.bigint()) / 2n;
  }

  private async endAll(): Promise<{ endNs: bigint; figures: ProbeFigure[] }> {
    const before = process.hrtime.bigint();
    const parts = await Promise.all(this.sensors.probes.map((p) => p.end()));
    return { endNs: (before + process.hrtime.bigint()) / 2n, figures: parts.flat() };
  }

  async measureIdle(seconds: number = this.idleSeconds, signal?: AbortSignal): Promise<IdleBaseline | null> {
    checkNumber('measureIdle seconds', seconds, 0, 3600);
    this.enter('measureIdle()');
    if (this.open) throw new Error(`energy monitor: measureIdle() while window '${this.open.label}' is open`);
    if (seconds === 0) return null;
    this.busy = true;
    try {
      const startNs = await this.beginAll();
      const aborted = await sleepUnlessAborted(seconds * 1000, signal);
      const { endNs, figures } = await this.endAll(); // ends the probes' windows either way
      if (aborted) return null;
      const measured = Number(endNs - startNs) / 1e9;
      const watts: Record<string, number> = {};
      const methods: Record<string, EnergyFigure['method']> = {};
      for (const f of figures) {
        if (f.status !== 'ok' || f.joules === null) continue;
        watts[f.source] = f.joules / measured;
        methods[f.source] = f.method;
      }
      this.baseline = { seconds: measured, watts };
      this.baselineMethods = methods;
      return this.baseline;
    } finally {
      this.busy = false;
    }
  }

  async startWindow(label: string): Promise<void> {
    if (typeof label !== 'string' || label === '') throw new TypeError('energy startWindow(label): label must be a non-empty string');
    this.enter('startWindow()');
    if (this.open) throw new Error(`energy monitor: startWindow('${label}') while window '${this.open.label}' is open`);
    this.busy = true;
    try {
      this.open = { label, startNs: await this.beginAll() };
    } finally {
      this.busy = false;
    }
  }

  async stopWindow(): Promise<EnergyWindowResult> {
    this.enter('stopWindow()');
    const open = this.open;
    if (!open) throw new Error('energy monitor: stopWindow() without startWindow()');
    this.busy = true;
    try {
      const { endNs, figures } = await this.endAll().finally(() => {
        this.open = undefined; // a failed end still closes the window: the next one can start
      });
      const seconds = Number(endNs - open.startNs) / 1e9;
      const withDynamic = figures.map((f): EnergyFigure => {
        if (!this.baseline) return f;
        const idleW = this.baselineMethods[f.source] === f.method ? this.baseline.watts[f.source] : undefined;
        // Not clamped: a negative value means the phase drew less than idle (noise, or a
        // baseline taken while something else ran); labelled, never shown as a plain figure.
        const dynamicJoules = f.status === 'ok' && f.joules !== null && idleW !== undefined ? f.joules - idleW * seconds : null;
        if (dynamicJoules !== null && dynamicJoules < 0) {
          const below = `below the idle baseline by ${(-dynamicJoules).toFixed(3)} J (the phase drew less than idle: noise, or the baseline ran while something else did)`;
          return { ...f, dynamicJoules, reason: f.reason ? `${f.reason}; ${below}` : below };
        }
        return { ...f, dynamicJoules };
      });
      return {
        label: open.label,
        startNs: open.startNs,
        endNs,
        seconds,
        figures: withDynamic,
        gpuJoules: gpuTotal(figures),
        cpuJoules: cpuTotal(figures),
      };
    } finally {
      this.busy = false;
    }
  }

  timeline(): unknown[] {
    return this.sensors.sampler?.timeline() ?? [];
  }

  async measuresEnergy(): Promise<boolean> {
    const rows = (await Promise.all(this.sensors.probes.map((p) => p.describe()))).flat();
    return rows.some((r) => r.status === 'ok' && r.method !== 'estimated');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSensors(this.sensors);
  }
}

export async function createEnergyMonitor(opts: EnergyMonitorOptions = {}): Promise<EnergyMonitor> {
  const sampleHz = opts.sampleHz ?? 10;
  checkNumber('sampleHz', sampleHz, 0, 1000);
  checkNumber('idleSeconds', opts.idleSeconds, 0, 3600);
  checkNumber('raplPollSeconds', opts.raplPollSeconds, 0.01, 600);
  const sensors = await openSensors(opts, sampleHz);
  return new Monitor(sensors, opts.idleSeconds ?? 5);
}

/** Which energy sensors exist here, and why the others are unavailable (for `aeb env`). */
export async function describeEnergySensors(opts: EnergyMonitorOptions = {}): Promise<SensorDescription[]> {
  const sensors = await openSensors(opts, 0);
  try {
    const rows = await Promise.all(sensors.probes.map((p) => p.describe()));
    return rows.flat();
  } catch (err) {
    throw new Error(`describing energy sensors failed: ${errorMessage(err)}`);
  } finally {
    closeSensors(sensors);
  }
}
