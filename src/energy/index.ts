// Public surface of the energy module.
export type * from './types.js';
export { createEnergyMonitor, describeEnergySensors, type EnergyMonitorOptions } from './monitor.js';
export { emissionsFor, carbonIntensityFor, EmissionsConfigError, type EmissionsLocation, type EmissionsResult } from './emissions.js';
export type { SensorDescription } from './probe.js';
export type { TelemetrySample, GpuTelemetry } from './sampler.js';
export type { GpuRequest } from './gpu-mapping.js';
export { NvmlOpenError, type NvmlProvider, type NvmlSession } from './nvml-adapter.js';
