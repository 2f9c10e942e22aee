// Which NVML devices a run uses.
//
// NVML numbers devices in its own order; CUDA numbers them by CUDA_DEVICE_ORDER (default
// FASTEST_FIRST) and then renumbers the CUDA_VISIBLE_DEVICES subset from 0. The only exact
// link is the PCI bus id, so callers that can ask CUDA for it (native engine on CUDA builds)
// pass `busIds`. Without them, CUDA ordinals are mapped through CUDA_VISIBLE_DEVICES assuming
// CUDA enumerates in PCI bus order: exact with CUDA_DEVICE_ORDER=PCI_BUS_ID (the addon sets it
// unless the user chose another order), and also for identical GPUs (FASTEST_FIRST breaks ties
// by bus id); otherwise a warning is attached.

import type { NvmlDevice } from './nvml-adapter.js';

export interface GpuRequest {
  /** PCI bus ids (CUDA '0000:19:00.0' or NVML '00000000:19:00.0' form). */
  busIds?: string[];
  /** CUDA ordinals as seen by this process (after CUDA_VISIBLE_DEVICES). */
  cudaOrdinals?: number[];
  /** NVML indices (nvidia-smi numbering), e.g. old config backend.device_ids for a local server. */
  deviceIds?: number[];
}

export interface SelectedGpu {
  nvmlIndex: number;
  /** 'GPU <nvml index> (<name>, <bus id>)' */
  label: string;
  /** Mapping caveat to carry into every figure of this GPU. */
  warning?: string;
}

export interface GpuSelection {
  devices: SelectedGpu[];
  /** Requested GPUs that could not be matched, with the reason. */
  unavailable: Array<{ source: string; reason: string }>;
}

export type CudaVisibleEntry =
  | { kind: 'index'; index: number }
  | { kind: 'uuid'; uuid: string }
  | { kind: 'mig'; id: string };

/** Canonical 'dddd:bb:dd.f' (lower-case hex), or null when `busId` is not a PCI address. */
export function canonicalBusId(busId: string): string | null {
  const m = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(
    busId.trim(),
  );
  if (!m) return null;
  const hex = (s: string, width: number) => parseInt(s, 16).toString(16).padStart(width, '0');
  return `${hex(m[1] ?? '0', 4)}:${hex(m[2]!, 2)}:${hex(m[3]!, 2)}.${m[4]}`;
}

/**
 * CUDA_VISIBLE_DEVICES as CUDA reads it: undefined when unset (all devices visible);
 * parsing stops at the first invalid entry (CUDA hides it and everything after it).
 */
export function parseCudaVisibleDevices(value: string | undefined): CudaVisibleEntry[] | undefined {
  if (value === undefined) return undefined;
  const entries: CudaVisibleEntry[] = [];
  for (const raw of value.split(',')) {
    const token = raw.trim();
    if (/^\d+$/.test(token)) entries.push({ kind: 'index', index: Number(token) });
    else if (/^MIG-/i.test(token)) entries.push({ kind: 'mig', id: token });
    else if (/^GPU-[0-9a-fA-F-]+$/i.test(token)) entries.push({ kind: 'uuid', uuid: token });
    else break;
  }
  return entries;
}

export function gpuLabel(d: NvmlDevice): string {
  const bus = d.busId ? (canonicalBusId(d.busId) ?? d.busId) : 'bus id unknown';
  return `GPU ${d.index} (${d.name ?? 'unknown GPU'}, ${bus})`;
}

function checkIntegers(name: string, values: number[]): void {
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`energy gpu.${name}: ${String(v)} is not a non-negative integer`);
    }
  }
}

/** Devices in PCI bus order (CUDA's enumeration order under the assumption above). */
function pciOrder(devices: NvmlDevice[]): NvmlDevice[] {
  const key = (d: NvmlDevice) => (d.busId ? canonicalBusId(d.busId) : null) ?? `~${d.index}`;
  return [...devices].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

type Visible = { device: NvmlDevice } | { mig: string };

function visibleDevices(devices: NvmlDevice[], entries: CudaVisibleEntry[] | undefined): Visible[] {
  const ordered = pciOrder(devices);
  if (entries === undefined) return ordered.map((device) => ({ device }));
  const out: Visible[] = [];
  for (const e of entries) {
    if (e.kind === 'mig') {
      out.push({ mig: e.id });
      continue;
    }
    let match: NvmlDevice | undefined;
    if (e.kind === 'index') {
      match = ordered[e.index];
    } else {
      // CUDA accepts any unique prefix of a GPU UUID.
      const hits = devices.filter((d) => d.uuid?.toLowerCase().startsWith(e.uuid.toLowerCase()));
      match = hits.length === 1 ? hits[0] : undefined;
    }
    if (!match || out.some((v) => 'device' in v && v.device === match)) break; // CUDA stops here
    out.push({ device: match });
  }
  return out;
}

export function selectGpus(
  devices: NvmlDevice[],
  request: GpuRequest,
  env: { CUDA_VISIBLE_DEVICES?: string | undefined; CUDA_DEVICE_ORDER?: string | undefined },
): GpuSelection {
  const selection: GpuSelection = { devices: [], unavailable: [] };
  const add = (d: NvmlDevice, warning?: string) => {
    if (selection.devices.some((s) => s.nvmlIndex === d.index)) return; // never count twice
    selection.devices.push({ nvmlIndex: d.index, label: gpuLabel(d), ...(warning ? { warning } : {}) });
  };

  if (request.busIds && request.busIds.length > 0) {
    for (const raw of request.busIds) {
      const want = canonicalBusId(raw);
      if (!want) throw new RangeError(`energy gpu.busIds: '${raw}' is not a PCI bus id (e.g. 0000:19:00.0)`);
      const hit = devices.find((d) => d.busId !== null && canonicalBusId(d.busId) === want);
      if (hit) add(hit);
      else
        selection.unavailable.push({
          source: `GPU at ${want}`,
          reason: `no NVML device has PCI bus id ${want} (NVML sees: ${
            devices.map((d) => (d.busId ? canonicalBusId(d.busId) : null) ?? '?').join(', ') || 'none'
          })`,
        });
    }
    return selection;
  }

  if (request.deviceIds && request.deviceIds.length > 0) {
    checkIntegers('deviceIds', request.deviceIds);
    for (const id of request.deviceIds) {
      const hit = devices.find((d) => d.index === id);
      if (hit) add(hit);
      else
        selection.unavailable.push({
          source: `GPU ${id}`,
          reason: `no NVML device with index ${id} (this machine has ${devices.length})`,
        });
    }
    return selection;
  }

  const cvd = env.CUDA_VISIBLE_DEVICES;
  const entries = parseCudaVisibleDevices(cvd);
  const visible = visibleDevices(devices, entries);
  const ordinals = request.cudaOrdinals ?? visible.map((_, i) => i);
  checkIntegers('cudaOrdinals', ordinals);
  const pciExact = (env.CUDA_DEVICE_ORDER ?? '').toUpperCase() === 'PCI_BUS_ID';
  const needsOrder = entries === undefined || entries.some((e) => e.kind === 'index');
  const names = new Set(devices.map((d) => d.name ?? '?'));
  const orderWarning =
    !pciExact && needsOrder && names.size > 1
      ? `CUDA ordinal mapped assuming PCI bus order, but CUDA_DEVICE_ORDER is ${
          env.CUDA_DEVICE_ORDER ?? 'unset (FASTEST_FIRST)'
        } and the GPUs differ (${[...names].join(', ')}): set CUDA_DEVICE_ORDER=PCI_BUS_ID or pass bus ids`
      : undefined;
  const cvdText = cvd === undefined ? 'unset' : `'${cvd}'`;
  for (const ordinal of ordinals) {
    const v = visible[ordinal];
    if (!v) {
      selection.unavailable.push({
        source: `cuda:${ordinal}`,
        reason: `CUDA ordinal ${ordinal} is not visible (CUDA_VISIBLE_DEVICES ${cvdText}, ${visible.length} visible)`,
      });
    } else if ('mig' in v) {
      selection.unavailable.push({
        source: `cuda:${ordinal} (${v.mig})`,
        reason:
          'MIG instance: NVML meters the whole physical GPU, shared with other instances, so its energy cannot be attributed to this run',
      });
    } else {
      const uuidEntry = entries?.[ordinal]?.kind === 'uuid';
      add(v.device, uuidEntry ? undefined : orderWarning);
    }
  }
  return selection;
}
