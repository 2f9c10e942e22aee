// Energy figures shared by the energy module (producer) and the runner/results (consumers).
// Every figure carries its scope and method; a missing sensor is `unavailable`, never 0.

export type EnergyScope = 'gpu' | 'cpu-package' | 'dram' | 'estimated-cpu';
export type EnergyMethod = 'counter' | 'integrated' | 'estimated';
export type EnergyStatus = 'ok' | 'unavailable' | 'invalid';

/**
 * Source of the GPU figure when this machine has no GPU to meter (no NVML, none reported, or
 * GPU metering off). Any other unavailable GPU figure names a GPU the run uses that could not
 * be metered (a MIG instance, a board with neither counter nor power reading).
 */
export const NO_LOCAL_GPU_SOURCE = 'GPU';

export interface EnergyFigure {
  scope: EnergyScope;
  method: EnergyMethod;
  status: EnergyStatus;
  /** Device/domain label, e.g. 'GPU 0 (NVIDIA H200, 0000:19:00.0)' or 'package-0'. */
  source: string;
  /** Joules in the window; null unless status is 'ok'. */
  joules: number | null;
  /** Idle-subtracted (dynamic) joules when an idle baseline exists. */
  dynamicJoules?: number | null;
  /** Why it is unavailable/invalid, or warnings (e.g. window shorter than counter update period). */
  reason?: string;
}

export interface EnergyWindowResult {
  label: string;
  startNs: bigint;
  endNs: bigint;
  seconds: number;
  figures: EnergyFigure[];
  /** Sum over the GPUs doing the work (null when unavailable). */
  gpuJoules: number | null;
  /** Sum of CPU package + DRAM (or estimated CPU) joules (null when unavailable). */
  cpuJoules: number | null;
}

export interface IdleBaseline {
  seconds: number;
  /** Mean idle power per source (watts). */
  watts: Record<string, number>;
}

/** What the runner needs from the energy module. */
export interface EnergyMonitor {
  /** Sample idle power for `seconds` (0 = skip). */
  /** `signal`: an abort ends it early with no baseline (null): a cut-short idle is none. */
  measureIdle(seconds: number, signal?: AbortSignal): Promise<IdleBaseline | null>;
  startWindow(label: string): Promise<void>;
  stopWindow(): Promise<EnergyWindowResult>;
  /** Background telemetry timeline (power, utilisation, memory, temperature, clocks). */
  timeline(): unknown[];
  /**
   * True when some sensor measures energy (a GPU counter or integrated power, RAPL), not only
   * the CPU estimate: an idle baseline means something only then. Absent: assume true.
   */
  measuresEnergy?(): Promise<boolean>;
  close(): Promise<void>;
}
