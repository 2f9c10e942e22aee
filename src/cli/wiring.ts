// The CLI's bridge to the engine-side modules (native backend, OpenAI client, energy, text
// pipeline, default model). Loaded with dynamic import() so the runner, results and tests
// never depend on them, and a missing piece gives a clear message instead of a crash.
import { readFile, stat } from 'node:fs/promises';
import { cpus, hostname, platform, release, totalmem } from 'node:os';
import { basename, resolve } from 'node:path';
import type { Backend, ReasoningSettings } from '../backends/types.js';
import { parseDtype } from '../config/dtype.js';
import { backendKind } from '../config/load.js';
import type { BenchmarkConfig } from '../config/schema.js';
import type { EnergyMonitor } from '../energy/types.js';
import type { BackendContext, PipelineDeps, Tokenizer } from '../runner/pipeline.js';
import type { EmissionsFigure } from '../runner/summary.js';
import type { MeasurementProbes } from '../runner/runner.js';
import type { ServerMetricsDelta, ServerMetricsSnapshot } from '../backends/openai/index.js';
import { CliError, EXIT } from './errors.js';

async function optionalImport<T>(load: () => Promise<T>, what: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND')
      throw new CliError(`${what} is not available in this build (${(e as Error).message})`, EXIT.MISSING_COMPONENT, { cause: e });
    throw e;
  }
}

/** 'cuda' + device_ids [1] → 'cuda:1'; everything else as configured. The engine uses one device. */
export function nativeDevice(config: BenchmarkConfig): string {
  const { device, device_ids } = config.backend;
  if (device === 'cuda' && device_ids && device_ids.length > 0) return `cuda:${device_ids[0]}`;
  return device;
}

/**
 * A native model path that does not exist gets a message saying what the native backend loads
 * (exit code 3: the run cannot start) instead of the file system's raw error.
 */
export async function assertNativeModelPath(path: string): Promise<void> {
  const found = await stat(path).then(() => true, (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? false : true));
  if (found) return;
  throw new CliError(
    `model ${path} does not exist. The native backend loads a local checkpoint directory (config.json + *.safetensors) ` +
    `or a TorchScript .pt file; to benchmark a served model use --backend vllm --endpoint URL`, EXIT.RUN_FAILED);
}

/** The model directory for the native engine: the configured one or the built-in default model. */
export async function nativeModelPath(config: BenchmarkConfig): Promise<string> {
  if (config.backend.model) {
    await assertNativeModelPath(config.backend.model);
    return config.backend.model;
  }
  const m = await optionalImport(() => import('../models/default-model.js'), 'the built-in default model (src/models/default-model)');
  return m.ensureDefaultModel();
}

/** The label results use for a run of the built-in default model (null when a model is configured). */
/** Said whenever the built-in model runs: its numbers are real, its text is not. */
export const DEFAULT_MODEL_NOTICE =
  'using the built-in default model (small Llama, seeded random weights, byte tokenizer; no download): its text is meaningless, ' +
  'its timings and energy are real. Benchmark a real model with --model /path/to/hf-checkpoint-dir or --model /path/to/model.pt (TorchScript).';

export async function defaultModelLabel(config: BenchmarkConfig): Promise<string | null> {
  if (backendKind(config) !== 'native' || config.backend.model || config.results.model_name) return null;
  try {
    return (await import('../models/default-model.js')).DEFAULT_MODEL_ID;
  } catch {
    return null;
  }
}

type TextPipeline = Awaited<ReturnType<(typeof import('../text/pipeline.js'))['loadTextPipeline']>>;
const pipelines = new Map<string, Promise<TextPipeline>>();

/** The text pipeline (tokenizer, chat template, eos ids) of a native model path, loaded once. */
export function textPipeline(modelPath: string): Promise<TextPipeline> {
  let p = pipelines.get(modelPath);
  if (!p) {
    p = optionalImport(() => import('../text/pipeline.js'), 'the text pipeline (src/text)').then(async (m) => {
      const { tokenizerDirFor } = await import('../text/model-files.js');
      const dir = await tokenizerDirFor(modelPath);
      // A TorchScript file: the reasoning registry keys on the file's own name.
      return m.loadTextPipeline(dir, dir === resolve(modelPath) ? {} : { modelId: basename(modelPath).replace(/\.(pt|pth|ts|torchscript)$/, '') });
    });
    pipelines.set(modelPath, p);
  }
  return p;
}

/** One keep-alive socket per request that can be in flight, so the client never queues hidden requests. */
function socketsFor(config: BenchmarkConfig): number {
  const l = config.load;
  if (l.mode === 'sequential') return 1;
  if (l.mode === 'concurrency') return l.concurrency;
  return l.max_concurrency ?? 1024;
}

/**
 * OpenAI/vLLM runs: the client's own floor (client-added TTFT on loopback, event-loop lag) and
 * the server's /metrics histograms over the measured phase, reported beside the client's figures.
 */
export async function probes(config: BenchmarkConfig, backend: Backend): Promise<MeasurementProbes | null> {
  if (backendKind(config) !== 'openai' || !('scrapeMetrics' in backend)) return null;
  const m = await optionalImport(() => import('../backends/openai/index.js'), 'the OpenAI-compatible backend (src/backends/openai)');
  const client = backend as import('../backends/openai/index.js').OpenAIBackend;
  return {
    calibrate: () => m.calibrateClient({ requests: 50, socketThread: config.backend.socket_thread }),
    serverMetrics: {
      snapshot: () => client.scrapeMetrics(),
      diff: (before, after) => m.diffServerMetrics(before as ServerMetricsSnapshot, after as ServerMetricsSnapshot),
      // vLLM's e2e histogram counts every finished request (of the run's model).
      countedRequests: (delta) => {
        const d = delta as ServerMetricsDelta;
        return d.unavailable === null ? (d.summary.e2e?.count ?? null) : null;
      },
    },
  };
}

async function readCaFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CliError(`backend.ca_file: cannot read ${path}: ${(e as Error).message}`, EXIT.USAGE);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`backend.ca_file: ${path} holds no PEM certificate`, EXIT.USAGE);
  return text;
}

export async function createBackend(config: BenchmarkConfig, ctx: BackendContext): Promise<Backend> {
  if (backendKind(config) === 'openai') {
    const m = await optionalImport(() => import('../backends/openai/index.js'), 'the OpenAI-compatible backend (src/backends/openai)');
    // backend.tokenizer: the labelled fallback count for a server that sends no usage.
    const local = await tokenizer(config);
    return m.createOpenAIBackend({
      ...(local ? { countTokens: (text: string) => local.encode(text).length } : {}),
      endpoint: config.backend.endpoint!,
      ...(config.backend.model ? { model: config.backend.model } : {}),
      ...(config.backend.api_key ? { apiKey: config.backend.api_key } : {}),
      api: config.backend.api,
      requestTimeoutMs: config.backend.request_timeout_ms,
      maxSockets: socketsFor(config),
      socketThread: config.backend.socket_thread,
      ...(config.backend.ca_file ? { ca: await readCaFile(config.backend.ca_file) } : {}),
    });
  }
  const modelPath = await nativeModelPath(config);
  const m = await optionalImport(() => import('../backends/native.js'), 'the native backend (src/backends/native)');
  const text = await textPipeline(modelPath);
  const reasoning: ReasoningSettings | undefined = ctx.reasoning ?? undefined;
  const dtype = parseDtype(config.backend.torch_dtype);
  return m.createNativeBackend({
    modelPath,
    device: nativeDevice(config),
    ...(dtype ? { dtype } : {}),
    ...(config.backend.threads ? { threads: config.backend.threads } : {}),
    ...(config.backend.max_seq_len ? { maxSeqLen: config.backend.max_seq_len } : {}),
    encode: async (prompt) => text.encodePrompt(prompt, reasoning),
    decode: (ids) => text.decode(ids),
  });
}

export async function createEnergyMonitor(config: BenchmarkConfig): Promise<EnergyMonitor | null> {
  if (!config.metrics.enabled || config.metrics.type === 'none') return null;
  const m = await optionalImport(() => import('../energy/index.js'), 'the energy module (src/energy)');
  const { device_ids } = config.backend;
  let gpu: { cudaOrdinals?: number[]; deviceIds?: number[] } | false;
  if (backendKind(config) === 'openai') gpu = device_ids ? { deviceIds: device_ids } : false; // a server's GPUs: NVML indices
  else if (config.backend.device === 'cpu') gpu = false;
  else {
    // Meter exactly the device the engine runs on (extra device_ids are not used by it). The
    // ordinal is mapped in PCI bus order, the order the addon gives CUDA: set it before mapping.
    (await import('../native/index.js')).applyCudaDeviceOrder();
    const used = nativeDevice(config);
    gpu = { cudaOrdinals: [used.includes(':') ? Number(used.split(':')[1]) : 0] };
  }
  return m.createEnergyMonitor({
    gpu,
    ...(config.metrics.idle_seconds !== null ? { idleSeconds: config.metrics.idle_seconds } : {}),
    ...(config.metrics.cpu_watts_per_core !== null ? { cpuWattsPerCore: config.metrics.cpu_watts_per_core } : {}),
  });
}

export async function emissions(joules: number, config: BenchmarkConfig): Promise<EmissionsFigure | null> {
  const m = await optionalImport(() => import('../energy/index.js'), 'the energy module (src/energy)');
  const r = m.emissionsFor(joules, {
    ...(config.metrics.country_iso_code ? { countryIsoCode: config.metrics.country_iso_code } : {}),
    ...(config.metrics.region ? { region: config.metrics.region } : {}),
  });
  return { grams: r.grams, intensityGPerKwh: r.intensityGPerKWh, source: [r.source, r.region].filter(Boolean).join(', ') };
}

/**
 * The native model's tokenizer, or for a server the local one named by backend.tokenizer (if
 * any). Its encode is synchronous (the record of a request is built synchronously from it).
 */
export async function tokenizer(config: BenchmarkConfig): Promise<(Omit<Tokenizer, 'encode'> & { encode(text: string): number[] }) | null> {
  const dir = backendKind(config) === 'native' ? await nativeModelPath(config) : config.backend.tokenizer;
  if (dir === null) return null;
  if (backendKind(config) === 'openai' && !(await stat(dir).then((s) => s.isDirectory(), () => false)))
    throw new CliError(`backend.tokenizer (--tokenizer) ${dir} is not a directory: give a local directory holding the served model's tokenizer.json`, EXIT.USAGE);
  const text = await textPipeline(dir);
  return { encode: (s) => text.tokenizer.encode(s), decode: (ids) => text.decode(ids) };
}

/** Machine description for reports; the native runtime (libtorch load: ~1 s) only for native runs or when asked. */
export async function environment(config?: BenchmarkConfig): Promise<Record<string, unknown>> {
  const env: Record<string, unknown> = {
    node: process.version, platform: platform(), release: release(), arch: process.arch, hostname: hostname(),
    cpu: cpus()[0]?.model ?? null, cpu_count: cpus().length, memory_bytes: totalmem(),
    cuda_visible_devices: process.env.CUDA_VISIBLE_DEVICES ?? null,
  };
  if (config && backendKind(config) !== 'native') return env;
  try {
    const m = await import('../native/index.js');
    // The runtime's thread count is libtorch's default as read on this (main) thread; a run's
    // engine sets its own (--threads), and its report puts that one under native.threads.
    const { threads, ...info } = m.nativeRuntimeInfo();
    env.native = { ...info, default_threads: threads };
  } catch (e) {
    env.native = { unavailable: (e as Error).message };
  }
  return env;
}

export function pipelineDeps(extra: Partial<PipelineDeps> = {}): PipelineDeps {
  return { createBackend, createEnergyMonitor, probes, emissions, tokenizer, environment, ...extra };
}
