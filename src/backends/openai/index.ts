// OpenAI-compatible (vLLM) streaming backend: HTTP client, SSE → per-request records, server
// /metrics histograms, client self-calibration, and the scripted emulator used to test them.
export { createOpenAIBackend } from './backend.js';
export type { OpenAIBackend, OpenAIBackendOptions } from './backend.js';
export { normalizeEndpoint } from './endpoint.js';
export type { NormalizedEndpoint } from './endpoint.js';
export { calibrateClient } from './calibrate.js';
export type { CalibrationOptions, ClientCalibration } from './calibrate.js';
export { diffServerMetrics, histogramQuantile, snapshotFromSamples, VLLM_LATENCY_METRICS } from './server-metrics.js';
export type { ServerMetricsSnapshot, ServerMetricsDelta, HistogramData, HistogramDelta, LatencySummary } from './server-metrics.js';
export { parsePrometheusText } from './prometheus.js';
export type { PromSample, PromParseResult } from './prometheus.js';
export type { OpenAIRequestRecord } from './record.js';
export { buildRequestBody } from './request-body.js';
export type { OpenAIApi } from './request-body.js';
export { OpenAIStreamProcessor } from './stream-processor.js';
export { startOpenAIEmulator } from './emulator.js';
export type { OpenAIEmulator, EmulatorOptions, EmulatorScript, EmulatorStep, DynamicWrite, EmulatorRequest, EmulatorLogEntry } from './emulator.js';
export { buildStream, encodeEvent, errorEventStep } from './emulator-script.js';
export type { StreamSpec, BuiltStream, ExpectedStream } from './emulator-script.js';
export { quantiles } from './quantiles.js';
export { socketThread } from './h1/socket-thread.js';
export type { Quantiles } from './quantiles.js';
