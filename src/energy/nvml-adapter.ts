// The one TypeScript view of NVML used by the energy module. The production implementation
// wraps the addon's `nvml*` functions (native/binding/nvml_binding.cpp); tests may supply an
// in-memory implementation of the same interface.

import { loadAddon } from '../native/index.js';

export type NvmlFieldGroup =
  | 'energy'
  | 'power'
  | 'powerLimit'
  | 'utilization'
  | 'memory'
  | 'temperature'
  | 'clocks';

export type NvmlValueName =
  | 'energyMj'
  | 'powerMw'
  | 'powerLimitMw'
  | 'utilGpuPct'
  | 'utilMemPct'
  | 'memUsedBytes'
  | 'memTotalBytes'
  | 'temperatureC'
  | 'clockSmMhz'
  | 'clockMemMhz';

export interface NvmlDevice {
  /** NVML index (nvidia-smi numbering). */
  index: number;
  name: string | null;
  /** NVML form, e.g. '00000000:19:00.0'. */
  busId: string | null;
  uuid: string | null;
  /** Why a field is null (or the device handle failed: key 'handle'). */
  errors: Record<string, string>;
}

export interface NvmlFieldError {
  /** NVML return code (13 also when the function is missing from the library). */
  code: number;
  message: string;
}

export interface NvmlReading {
  index: number;
  /** Monotonic clock (same clock as process.hrtime.bigint()) at the read. */
  tNs: bigint;
  values: Partial<Record<NvmlValueName, number | null>>;
  errors: Partial<Record<NvmlValueName, NvmlFieldError>>;
}

export interface NvmlSession {
  readonly libraryPath: string;
  readonly missingFunctions: readonly string[];
  devices(): NvmlDevice[];
  read(indices: readonly number[], groups: readonly NvmlFieldGroup[]): Promise<NvmlReading[]>;
  close(): void;
}

/** Opens NVML; throws NvmlOpenError when the library cannot be loaded or initialised. */
export interface NvmlProvider {
  open(libraryPath?: string): NvmlSession;
}

export class NvmlOpenError extends Error {
  constructor(
    message: string,
    /** e.g. NVML_LIBRARY_NOT_FOUND, NVML_INIT_FAILED, NVML_FUNCTION_MISSING, NVML_ADDON_MISSING */
    readonly code: string,
    readonly nvmlReturn?: number,
  ) {
    super(message);
    this.name = 'NvmlOpenError';
  }
}

/** The addon functions this adapter uses (a subset of the addon's exports). */
export interface NvmlAddon {
  nvmlOpen(path?: string): unknown;
  nvmlInfo(session: unknown): { path: string; deviceCount: number; missingFunctions: string[] };
  nvmlDevices(session: unknown): NvmlDevice[];
  nvmlRead(session: unknown, indices: number[], fields: number): Promise<NvmlReading[]>;
  nvmlClose(session: unknown): void;
  nvmlFields: Record<NvmlFieldGroup, number>;
}

export function isNvmlAddon(value: unknown): value is NvmlAddon {
  const v = value as Partial<NvmlAddon> | null | undefined;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.nvmlOpen === 'function' &&
    typeof v.nvmlRead === 'function' &&
    typeof v.nvmlDevices === 'function' &&
    typeof v.nvmlClose === 'function' &&
    typeof v.nvmlInfo === 'function' &&
    typeof v.nvmlFields === 'object'
  );
}

export function addonNvmlProvider(addon: NvmlAddon): NvmlProvider {
  return {
    open(libraryPath?: string): NvmlSession {
      let handle: unknown;
      try {
        handle = addon.nvmlOpen(libraryPath);
      } catch (err) {
        const e = err as { message?: string; code?: string; nvmlReturn?: number };
        throw new NvmlOpenError(e.message ?? String(err), e.code ?? 'NVML_ERROR', e.nvmlReturn);
      }
      const info = addon.nvmlInfo(handle);
      let closed = false;
      return {
        libraryPath: info.path,
        missingFunctions: info.missingFunctions,
        devices: () => addon.nvmlDevices(handle),
        async read(indices, groups) {
          let mask = 0;
          for (const g of groups) mask |= addon.nvmlFields[g];
          return addon.nvmlRead(handle, [...indices], mask);
        },
        close() {
          if (closed) return;
          closed = true;
          addon.nvmlClose(handle);
        },
      };
    },
  };
}

/** A provider whose open() always fails with `reason` (addon not built, etc.). */
export function failingNvmlProvider(reason: string, code: string): NvmlProvider {
  return {
    open(): NvmlSession {
      throw new NvmlOpenError(reason, code);
    },
  };
}

/**
 * The NVML provider backed by the project's addon (src/native). A missing or unloadable addon
 * gives a provider whose open() fails with NVML_ADDON_MISSING, so GPU sensors read
 * "unavailable: native addon not built …" instead of failing the run.
 */
export function loadAddonNvmlProvider(): NvmlProvider {
  let addon: unknown;
  try {
    addon = loadAddon();
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return failingNvmlProvider(`native addon not built or not loadable (${first}): run npm run build:native`, 'NVML_ADDON_MISSING');
  }
  if (!isNvmlAddon(addon)) {
    return failingNvmlProvider('native addon lacks the nvml* functions (stale build?): run npm run build:native', 'NVML_ADDON_MISSING');
  }
  return addonNvmlProvider(addon);
}
