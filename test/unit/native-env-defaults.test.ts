import { describe, expect, it } from 'vitest';
import { applyCudaDeviceOrder, applyThreadPoolDefaults } from '../../src/native/index.js';

describe('environment defaults set before libtorch and CUDA initialise', () => {
  it('OpenMP threads sleep after a parallel region unless the user chose otherwise', () => {
    const env: NodeJS.ProcessEnv = {};
    applyThreadPoolDefaults(env);
    expect(env.OMP_WAIT_POLICY).toBe('PASSIVE');
    const mine: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'ACTIVE' };
    applyThreadPoolDefaults(mine);
    expect(mine.OMP_WAIT_POLICY).toBe('ACTIVE');
  });

  it('CUDA numbers GPUs in PCI bus order (as nvidia-smi and NVML do) unless the user chose otherwise', () => {
    const env: NodeJS.ProcessEnv = {};
    applyCudaDeviceOrder(env);
    expect(env.CUDA_DEVICE_ORDER).toBe('PCI_BUS_ID');
    const mine: NodeJS.ProcessEnv = { CUDA_DEVICE_ORDER: 'FASTEST_FIRST' };
    applyCudaDeviceOrder(mine);
    expect(mine.CUDA_DEVICE_ORDER).toBe('FASTEST_FIRST');
  });
});
