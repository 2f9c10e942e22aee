// Loading a run configuration: YAML file (old format accepted) → a.b.c=value overrides →
// validation. Errors name the key, the value given and the allowed values.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { applyOverrides, parseOverride, type Override } from './overrides.js';
import { configSchema, knownKeyPaths, type BenchmarkConfig } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly problems: string[] = []) {
    super(message);
  }
}

export interface LoadedConfig {
  config: BenchmarkConfig;
  /** Unknown keys and other non-fatal remarks. */
  warnings: string[];
  source: string | null;
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let node = obj;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const key = issue.path.map(String).join('.') || '(top level)';
  const got = valueAt(input, issue.path);
  const shown = got === undefined ? 'missing' : JSON.stringify(got);
  if (issue.code === 'invalid_value' && 'values' in issue)
    return `${key}: ${shown} is not allowed; allowed values: ${issue.values.map(String).join(', ')}`;
  if (issue.code === 'custom') return `${key} ${issue.message}`;
  return `${key}: ${issue.message} (got ${shown})`;
}

/** Unknown dotted keys, down to scenario.generate_kwargs (old files carry keys we ignore). */
function unknownKeys(raw: Record<string, unknown>): string[] {
  const known = knownKeyPaths();
  const out: string[] = [];
  // Sections, and the one nested map with fixed keys (reasoning_params is free-form).
  const walk = (node: unknown, prefix: string) => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (!known.has(path)) out.push(path);
      else if (prefix === '' || path === 'scenario.generate_kwargs') walk(v, path);
    }
  };
  walk(raw, '');
  return out;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known key an unknown one is a near miss of (a typo would otherwise be silently ignored). */
function nearMiss(path: string): string | null {
  const cut = path.lastIndexOf('.');
  const parent = path.slice(0, cut + 1);
  const leaf = path.slice(cut + 1);
  if (leaf.length < 4) return null;
  for (const k of knownKeyPaths()) {
    if (!k.startsWith(parent) || k.slice(parent.length).includes('.')) continue;
    if (editDistance(leaf.toLowerCase(), k.slice(parent.length)) <= 2) return k;
  }
  return null;
}

/** Validates an already-parsed config object (after overrides). */
export function validateConfig(raw: unknown, source: string | null = null): LoadedConfig {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source ?? 'config'}: the top level must be a map of sections (name, backend, scenario, …)`);
  const unknown = unknownKeys(raw as Record<string, unknown>);
  const typos = unknown.flatMap((k) => {
    const near = nearMiss(k);
    return near ? [`${k}: unknown key; did you mean ${near}?`] : [];
  });
  const result = configSchema.safeParse(raw);
  if (!result.success || typos.length) {
    const problems = [...typos, ...(result.success ? [] : result.error.issues.map((i) => describeIssue(i, raw)))];
    throw new ConfigError(`invalid configuration${source ? ` in ${source}` : ''}:\n  ${problems.join('\n  ')}`, problems);
  }
  const warnings = unknown.map((k) => `unknown key ${k} ignored`);
  const config = result.data;
  const set = (...path: string[]) => valueAt(raw, path) !== undefined && valueAt(raw, path) !== null;
  warnings.push(...remarks(config, set('load', 'arrival'), set('load', 'concurrency'), set('load', 'burstiness')));
  return { config, warnings, source };
}

/** Settings that are valid but do not do what they seem to. */
function remarks(config: BenchmarkConfig, arrivalSet: boolean, concurrencySet: boolean, burstinessSet: boolean): string[] {
  const out: string[] = [];
  const { backend, load } = config;
  const native = backendKind(config) === 'native';
  const ids = backend.device_ids;
  if (native && backend.device === 'cuda' && ids && ids.length > 1)
    out.push(`backend.device_ids ${JSON.stringify(ids)}: the native engine runs on one device, cuda:${ids[0]} (energy is metered on that GPU only)`);
  if (native && load.mode === 'concurrency' && load.concurrency > 1)
    out.push(`load.concurrency ${load.concurrency} (--concurrency): the native in-process engine runs one generation at a time, so concurrency > 1 only adds queue time to each request`);
  if (concurrencySet && load.mode === 'rate' && load.concurrency > 1 && load.max_concurrency === null)
    out.push(`load.concurrency ${load.concurrency} is ignored with load.mode rate: set load.max_concurrency ${load.concurrency} (or --concurrency with --rate) to cap the requests in flight`);
  if (arrivalSet && load.mode !== 'rate')
    out.push(`load.arrival ${load.arrival} (--arrival) is ignored: the arrival process applies only with --rate (load.mode=rate)`);
  if (burstinessSet && load.mode === 'rate' && load.arrival !== 'gamma' && load.burstiness !== 1)
    out.push(`load.burstiness ${load.burstiness} is ignored with load.arrival ${load.arrival}: it shapes gamma arrivals only (set load.arrival: gamma; poisson is gamma with burstiness 1)`);
  const cpus = availableParallelism();
  if (backend.threads !== null && backend.threads > cpus)
    out.push(`backend.threads ${backend.threads} (--threads) is more than the ${cpus} CPUs available here: threads will compete for cores`);
  return out;
}

/** The YAML file as a plain object (no validation). */
export async function readConfigObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new ConfigError(`config file ${file} is a directory: give a YAML config file`);
    throw new ConfigError(`cannot read config file ${file}: ${code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed)))
    throw new ConfigError(`${file}: the top level must be a map of sections (name, backend, scenario, …)`);
  return (parsed as Record<string, unknown>) ?? {};
}

export async function loadConfig(opts: { file?: string | null; overrides?: readonly (string | Override)[]; base?: Record<string, unknown> } = {}): Promise<LoadedConfig> {
  let raw: Record<string, unknown> = opts.base ? structuredClone(opts.base) : {};
  if (opts.file) raw = { ...raw, ...(await readConfigObject(opts.file)) };
  const overrides = (opts.overrides ?? []).map((o) => (typeof o === 'string' ? parseOverride(o) : o));
  return validateConfig(applyOverrides(raw, overrides), opts.file ?? null);
}

/** `pytorch` is our native engine; `vllm` our OpenAI-compatible client. */
export function backendKind(config: BenchmarkConfig): 'native' | 'openai' {
  return config.backend.type === 'pytorch' || config.backend.type === 'native' ? 'native' : 'openai';
}
