import { describe, expect, it } from 'vitest';

import { canonicalBusId, parseCudaVisibleDevices, selectGpus } from '../../src/energy/gpu-mapping.js';
import type { NvmlDevice } from '../../src/energy/nvml-adapter.js';

// NVML order deliberately differs from PCI order (index 0 sits on the highest bus).
const devices: NvmlDevice[] = [
  { index: 0, name: 'NVIDIA H200', busId: '00000000:9A:00.0', uuid: 'GPU-cccc0000-0000', errors: {} },
  { index: 1, name: 'NVIDIA H200', busId: '00000000:19:00.0', uuid: 'GPU-aaaa0000-0000', errors: {} },
  { index: 2, name: 'NVIDIA H200', busId: '00000000:3B:00.0', uuid: 'GPU-bbbb0000-0000', errors: {} },
];
const mixed: NvmlDevice[] = [
  { index: 0, name: 'NVIDIA A100', busId: '00000000:01:00.0', uuid: 'GPU-1111', errors: {} },
  { index: 1, name: 'Tesla T4', busId: '00000000:02:00.0', uuid: 'GPU-2222', errors: {} },
];

const indices = (s: ReturnType<typeof selectGpus>) => s.devices.map((d) => d.nvmlIndex);

describe('canonicalBusId', () => {
  it('equates the NVML and CUDA forms', () => {
    expect(canonicalBusId('00000000:19:00.0')).toBe('0000:19:00.0');
    expect(canonicalBusId('0000:19:00.0')).toBe('0000:19:00.0');
    expect(canonicalBusId('19:00.0')).toBe('0000:19:00.0');
    expect(canonicalBusId('0001:9A:1F.3')).toBe('0001:9a:1f.3');
  });
  it('rejects non-addresses', () => {
    expect(canonicalBusId('GPU-1234')).toBeNull();
    expect(canonicalBusId('0000:19:00')).toBeNull();
  });
});

describe('parseCudaVisibleDevices', () => {
  it('is undefined when unset and empty for an empty string', () => {
    expect(parseCudaVisibleDevices(undefined)).toBeUndefined();
    expect(parseCudaVisibleDevices('')).toEqual([]);
  });
  it('parses indices, UUIDs and MIG ids and stops at the first invalid entry', () => {
    expect(parseCudaVisibleDevices('2, 0,GPU-aaaa,MIG-1234-5678')).toEqual([
      { kind: 'index', index: 2 },
      { kind: 'index', index: 0 },
      { kind: 'uuid', uuid: 'GPU-aaaa' },
      { kind: 'mig', id: 'MIG-1234-5678' },
    ]);
    expect(parseCudaVisibleDevices('1,-1,0')).toEqual([{ kind: 'index', index: 1 }]);
  });
});

describe('selectGpus', () => {
  it('maps bus ids exactly, in either form, without duplicates', () => {
    const s = selectGpus(devices, { busIds: ['0000:3b:00.0', '00000000:9A:00.0', '0000:3B:00.0'] }, {});
    expect(indices(s)).toEqual([2, 0]);
    expect(s.devices[0]!.label).toBe('GPU 2 (NVIDIA H200, 0000:3b:00.0)');
    expect(s.devices[0]!.warning).toBeUndefined();
  });
  it('reports an unknown bus id as unavailable and a malformed one as an error', () => {
    const s = selectGpus(devices, { busIds: ['0000:77:00.0'] }, {});
    expect(s.devices).toEqual([]);
    expect(s.unavailable[0]!.reason).toMatch(/no NVML device has PCI bus id 0000:77:00\.0 \(NVML sees: 0000:9a:00\.0, 0000:19:00\.0/);
    expect(() => selectGpus(devices, { busIds: ['cuda:0'] }, {})).toThrow(/'cuda:0' is not a PCI bus id/);
  });
  it('maps CUDA ordinals through PCI order when CUDA_VISIBLE_DEVICES is unset', () => {
    const s = selectGpus(devices, { cudaOrdinals: [0, 2] }, {});
    expect(indices(s)).toEqual([1, 0]); // bus 19 → NVML 1, bus 9a → NVML 0
  });
  it('defaults to every CUDA-visible GPU, renumbered by CUDA_VISIBLE_DEVICES', () => {
    expect(indices(selectGpus(devices, {}, { CUDA_VISIBLE_DEVICES: '2,0' }))).toEqual([0, 1]);
    expect(indices(selectGpus(devices, { cudaOrdinals: [1] }, { CUDA_VISIBLE_DEVICES: '2,0' }))).toEqual([1]);
  });
  it('accepts UUID prefixes in CUDA_VISIBLE_DEVICES', () => {
    expect(indices(selectGpus(devices, { cudaOrdinals: [0, 1] }, { CUDA_VISIBLE_DEVICES: 'GPU-bbbb,GPU-cccc' }))).toEqual([2, 0]);
  });
  it('reports ordinals hidden by CUDA_VISIBLE_DEVICES as unavailable', () => {
    const s = selectGpus(devices, { cudaOrdinals: [0, 1] }, { CUDA_VISIBLE_DEVICES: '1,7,0' });
    expect(indices(s)).toEqual([2]);
    expect(s.unavailable[0]).toEqual({
      source: 'cuda:1',
      reason: "CUDA ordinal 1 is not visible (CUDA_VISIBLE_DEVICES '1,7,0', 1 visible)",
    });
    expect(selectGpus(devices, {}, { CUDA_VISIBLE_DEVICES: '' }).devices).toEqual([]);
  });
  it('refuses to attribute a MIG instance', () => {
    const s = selectGpus(devices, { cudaOrdinals: [0] }, { CUDA_VISIBLE_DEVICES: 'MIG-GPU-aaaa/1/0' });
    expect(s.devices).toEqual([]);
    expect(s.unavailable[0]!.reason).toMatch(/MIG instance/);
  });
  it('warns when ordinals on mixed GPUs are mapped without CUDA_DEVICE_ORDER=PCI_BUS_ID', () => {
    const s = selectGpus(mixed, { cudaOrdinals: [0] }, {});
    expect(s.devices[0]!.warning).toMatch(/CUDA_DEVICE_ORDER is unset \(FASTEST_FIRST\).*NVIDIA A100, Tesla T4/);
    const exact = selectGpus(mixed, { cudaOrdinals: [0] }, { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' });
    expect(exact.devices[0]!.warning).toBeUndefined();
    const byUuid = selectGpus(mixed, { cudaOrdinals: [0] }, { CUDA_VISIBLE_DEVICES: 'GPU-2222' });
    expect(byUuid.devices[0]).toEqual({ nvmlIndex: 1, label: 'GPU 1 (Tesla T4, 0000:02:00.0)' });
  });
  it('takes deviceIds as NVML indices and validates them', () => {
    expect(indices(selectGpus(devices, { deviceIds: [0] }, { CUDA_VISIBLE_DEVICES: '2' }))).toEqual([0]);
    expect(selectGpus(devices, { deviceIds: [5] }, {}).unavailable[0]!.reason).toBe(
      'no NVML device with index 5 (this machine has 3)',
    );
    expect(() => selectGpus(devices, { deviceIds: [-1] }, {})).toThrow(/deviceIds: -1 is not a non-negative integer/);
  });
});
