// vLLM / OpenAI-compatible streaming backend. Safe for many concurrent generate() calls:
// per-request state lives in the request; shared state is the keep-alive agent and the
// (monotonic) "server rejected continuous_usage_stats" flag.

import { availableParallelism } from 'node:os';
import type { Backend, BackendDescription, GenerationSettings, PromptInput } from '../types.js';
import { normalizeEndpoint, type NormalizedEndpoint } from './endpoint.js';
import { H1Pool } from './h1/connection-pool.js';
import { startSocketThread, type SocketPlacement } from './h1/socket-thread.js';
import { assertTimeoutMs, createAgent, FREE_SOCKET_TIMEOUT_MS, httpErrorMessage, simpleRequest, type HttpAgent } from './http-client.js';
import { buildRecord, type OpenAIRequestRecord } from './record.js';
import { buildRequestBody, type OpenAIApi } from './request-body.js';
import { parsePrometheusText } from './prometheus.js';
import { proxyNotUsedWarning } from './proxy-env.js';
import { packageVersion } from '../../version.js';
import { snapshotFromSamples, type ServerMetricsSnapshot } from './server-metrics.js';
import { assertHeader, streamRequest, type StreamResult } from './stream-request.js';

export interface OpenAIBackendOptions {
  endpoint: string;
  /** Served model id; when absent the server's only (or first) model is used. */
  model?: string;
  /** Bearer token; defaults to $AEB_API_KEY, then $OPENAI_API_KEY. */
  apiKey?: string;
  api?: OpenAIApi;
  /**
   * Per-request timeout (ms, 0 = none; default 600 000 so a stalled stream can never hang a
   * run); GenerationSettings.timeoutMs wins when set.
   */
  requestTimeoutMs?: number;
  /** Keep-alive connections for streaming requests; size it to the concurrency (default 1024). */
  maxSockets?: number;
  /**
   * Where the streaming sockets live and their reads are stamped (see h1/socket-thread.ts):
   * 'worker' (a socket thread of their own: main-thread work and GC pauses cannot delay a
   * stamp), 'main', or 'auto' (default): 'worker' with 4 or more CPUs, 'main' below, where
   * the extra thread's wake-ups and CPU contention cost more than it saves (BENCHMARKS.md).
   */
  socketThread?: SocketPlacement | 'auto';
  /** Merged into every request body last. */
  extraBody?: Record<string, unknown>;
  /** Fallback token counter used only when the server sends no usage (labelled 'tokenizer'). */
  countTokens?: (text: string) => number;
  /** Timeout for health/models/metrics calls (ms, 0 = none). Default 10 000. */
  controlTimeoutMs?: number;
  /** PEM certificate(s) to trust for an https endpoint instead of Node's default CAs (a private CA). */
  ca?: string;
}

export interface OpenAIBackend extends Backend {
  readonly endpoint: NormalizedEndpoint;
  generate(prompt: PromptInput, settings: GenerationSettings, signal?: AbortSignal): Promise<OpenAIRequestRecord>;
  /** Scrape Prometheus /metrics; null when the server exposes none. */
  scrapeMetrics(signal?: AbortSignal): Promise<ServerMetricsSnapshot | null>;
}

interface ServedModel {
  id: string;
  maxModelLen?: number;
}

function parseModels(body: string, url: string): ServedModel[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`GET ${url} did not return JSON (got: ${body.slice(0, 200)})`);
  }
  const data = (parsed as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new Error(`GET ${url} returned no "data" list of models`);
  const out: ServedModel[] = [];
  for (const m of data) {
    const id = (m as { id?: unknown })?.id;
    if (typeof id !== 'string') continue;
    const len = (m as { max_model_len?: unknown }).max_model_len;
    out.push(typeof len === 'number' ? { id, maxModelLen: len } : { id });
  }
  return out;
}

const CONTINUOUS_USAGE_KEY = 'continuous_usage_stats';
/** Fewest CPUs at which the socket thread pays for itself (measured: bench:sse). */
const MIN_CPUS_FOR_SOCKET_THREAD = 4;

function socketPlacement(choice: SocketPlacement | 'auto'): SocketPlacement {
  if (choice === 'auto') return availableParallelism() >= MIN_CPUS_FOR_SOCKET_THREAD ? 'worker' : 'main';
  if (choice !== 'worker' && choice !== 'main') {
    throw new TypeError(`socketThread must be 'auto', 'worker' or 'main' (got ${JSON.stringify(choice)})`);
  }
  return choice;
}

/** Sockets for health, models and metrics requests (a few, one at a time in practice). */
const CONTROL_SOCKETS = 4;

export function createOpenAIBackend(opts: OpenAIBackendOptions): OpenAIBackend {
  const endpoint = normalizeEndpoint(opts.endpoint);
  const api: OpenAIApi = opts.api ?? 'chat';
  if (api !== 'chat' && api !== 'completions') {
    throw new TypeError(`api must be 'chat' or 'completions' (got ${JSON.stringify(api)})`);
  }
  const maxSockets = opts.maxSockets ?? 1024;
  if (!Number.isInteger(maxSockets) || maxSockets < 1) {
    throw new RangeError(`maxSockets must be a positive integer (got ${String(maxSockets)})`);
  }
  const requestTimeoutMs = opts.requestTimeoutMs ?? 600_000;
  assertTimeoutMs('requestTimeoutMs', requestTimeoutMs);
  const controlTimeoutMs = opts.controlTimeoutMs ?? 10_000;
  assertTimeoutMs('controlTimeoutMs', controlTimeoutMs);
  const apiKey = opts.apiKey ?? process.env['AEB_API_KEY'] ?? process.env['OPENAI_API_KEY'];
  const streamUrl = new URL(`${endpoint.apiBase}/${api === 'chat' ? 'chat/completions' : 'completions'}`);
  const streamPath = `${streamUrl.pathname}${streamUrl.search}`;

  // Control requests (health, models, metrics) go through node:http; streams through the pool.
  let agent: HttpAgent | null = createAgent(endpoint.root, CONTROL_SOCKETS, opts.ca);
  const placement = socketPlacement(opts.socketThread ?? 'auto');
  let pool: H1Pool | null = new H1Pool(streamUrl, {
    maxSockets,
    idleTimeoutMs: FREE_SOCKET_TIMEOUT_MS,
    placement,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
  });
  let model: string | undefined = opts.model;
  let continuousUsage = true;
  let opened = false;

  const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  if (apiKey) assertHeader('authorization', auth['authorization']!);
  // Some gateways refuse requests without a User-Agent.
  const userAgent = `ai-energy-benchmarks/${packageVersion()}`;
  const streamHeaders: Readonly<Record<string, string>> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    'user-agent': userAgent,
    ...auth,
  };
  const controlHeaders: Readonly<Record<string, string>> = { accept: 'application/json', 'user-agent': userAgent, ...auth };
  const liveAgent = (): HttpAgent => {
    if (agent === null) throw new Error('OpenAI backend is closed');
    return agent;
  };
  const livePool = (): H1Pool => {
    if (pool === null) throw new Error('OpenAI backend is closed');
    return pool;
  };

  async function open(signal?: AbortSignal): Promise<BackendDescription> {
    const control = { agent: liveAgent(), headers: controlHeaders, timeoutMs: controlTimeoutMs, ...(signal ? { signal } : {}) };
    const healthUrl = `${endpoint.root}/health`;
    const modelsUrl = `${endpoint.apiBase}/models`;
    let health: string;
    const h = await simpleRequest(healthUrl, control).catch((err: Error) => {
      const problem = /timed out/.test(err.message) ? 'no answer from the server' : 'cannot reach the server';
      throw new Error(`${problem} at ${endpoint.root}: ${err.message}`);
    });
    if (h.status === 200) health = 'GET /health';
    else health = `GET /v1/models (GET /health answered ${h.status})`;
    const m = await simpleRequest(modelsUrl, control);
    if (m.status === 401 || m.status === 403) {
      throw new Error(
        `GET ${modelsUrl} answered ${m.status}: the server needs an API key (set the apiKey option, AEB_API_KEY or OPENAI_API_KEY)`,
      );
    }
    if (m.status !== 200) throw new Error(`GET ${modelsUrl} answered ${httpErrorMessage(m.status, undefined, m.body.slice(0, 300), m.headers)}`);
    const served = parseModels(m.body, modelsUrl);
    if (served.length === 0) throw new Error(`the server at ${endpoint.apiBase} serves no models`);
    const ids = served.map((s) => s.id);
    if (model !== undefined) {
      if (!ids.includes(model)) {
        throw new Error(`model "${model}" is not served by ${endpoint.apiBase}; served models: ${ids.join(', ')}`);
      }
    } else {
      model = ids[0]!;
    }
    const chosen = served.find((s) => s.id === model)!;
    await startSocketThread(placement);
    opened = true;
    const proxyWarning = proxyNotUsedWarning(streamUrl);
    return {
      backend: 'openai',
      model,
      ...(proxyWarning !== null ? { warnings: [proxyWarning] } : {}),
      details: {
        endpoint: endpoint.apiBase,
        api,
        health,
        servedModels: ids,
        ...(chosen.maxModelLen !== undefined ? { maxModelLen: chosen.maxModelLen } : {}),
        maxSockets,
        socketThread: placement,
        requestTimeoutMs,
        apiKey: apiKey ? 'set' : 'none',
      },
    };
  }

  function send(
    prompt: PromptInput,
    settings: GenerationSettings,
    signal: AbortSignal | undefined,
    enqueueNs: bigint,
    withContinuousUsage: boolean,
  ): Promise<StreamResult> {
    const body = buildRequestBody(prompt, settings, {
      api,
      model: model!,
      continuousUsage: withContinuousUsage,
      ...(opts.extraBody ? { extraBody: opts.extraBody } : {}),
    });
    const timeoutMs = settings.timeoutMs !== undefined && settings.timeoutMs > 0 ? settings.timeoutMs : requestTimeoutMs;
    return streamRequest(
      {
        pool: livePool(),
        path: streamPath,
        headers: streamHeaders,
        body: JSON.stringify(body),
        timeoutMs,
        ...(signal ? { signal } : {}),
        ...(settings.reasoning?.enabled ? { thinkMarker: true, ...(settings.reasoning.thinkMarkers ? { thinkMarkers: settings.reasoning.thinkMarkers } : {}) } : {}),
      },
      enqueueNs,
    );
  }

  function rejectedContinuousUsage(r: StreamResult): boolean {
    // vLLM answers validation errors with 400, FastAPI-style servers with 422.
    return (r.httpStatus === 400 || r.httpStatus === 422) && (r.errorBody ?? '').includes(CONTINUOUS_USAGE_KEY);
  }

  async function generate(prompt: PromptInput, settings: GenerationSettings, signal?: AbortSignal): Promise<OpenAIRequestRecord> {
    const enqueueNs = process.hrtime.bigint();
    if (!opened || model === undefined) throw new Error('OpenAI backend: call open() before generate()');
    if (!Number.isInteger(settings.maxNewTokens) || settings.maxNewTokens < 1) {
      throw new RangeError(`maxNewTokens must be a positive integer (got ${String(settings.maxNewTokens)})`);
    }
    if (settings.timeoutMs !== undefined) assertTimeoutMs('timeoutMs', settings.timeoutMs);
    const withContinuousUsage = continuousUsage;
    let result = await send(prompt, settings, signal, enqueueNs, withContinuousUsage);
    if (withContinuousUsage && rejectedContinuousUsage(result)) {
      // Rejected before generation started: drop the option for good (concurrent requests
      // may race here; each retries once) and send again; the record's start is the second request's.
      continuousUsage = false;
      result = await send(prompt, settings, signal, enqueueNs, false);
    }
    const record = buildRecord(result.proc, {
      index: prompt.index,
      enqueueNs: result.enqueueNs,
      startNs: result.startNs,
      endNs: result.endNs,
      httpStatus: result.httpStatus,
      ...(result.error !== undefined ? { error: result.error } : {}),
      ...(opts.countTokens ? { countTokens: opts.countTokens } : {}),
    });
    if (!continuousUsage) {
      record.warnings.push(`server rejected ${CONTINUOUS_USAGE_KEY}: per-chunk token counts unavailable`);
    }
    return record;
  }

  async function scrapeMetrics(signal?: AbortSignal): Promise<ServerMetricsSnapshot | null> {
    const url = `${endpoint.root}/metrics`;
    const r = await simpleRequest(url, {
      agent: liveAgent(),
      headers: controlHeaders,
      timeoutMs: controlTimeoutMs,
      ...(signal ? { signal } : {}),
    });
    if (r.status !== 200) return null;
    return snapshotFromSamples(parsePrometheusText(r.body), { model: model ?? null, source: url });
  }

  async function close(): Promise<void> {
    agent?.destroy();
    agent = null;
    pool?.destroy();
    pool = null;
  }

  return {
    kind: 'openai',
    endpoint,
    open,
    generate,
    scrapeMetrics,
    close,
  };
}
