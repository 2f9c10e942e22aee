// The run configuration: the old YAML format (name/backend/scenario/metrics/reporter) plus our
// additions (load, runner, results). Backend `pytorch` is our native engine, `vllm` the
// OpenAI-compatible client. Values are validated with messages naming the key and the
// allowed values; unknown keys are warnings (old files carry keys we ignore), except near
// misses of a known key, which are errors (see config/load.ts).
import { z } from 'zod';
import { normalizeEndpoint } from '../backends/openai/endpoint.js';
import { carbonIntensityFor } from '../energy/emissions.js';
import { normalizeReasoningParams, parseReasoningState } from '../formatters/reasoning-state.js';
import { DTYPE_NAMES } from './dtype.js';

const boolish = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
/** A text field: a value YAML reads as a number (name=123, `task: 2024`) is taken as its text. */
const text = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === 'number' ? String(v) : v), schema);
const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

export const BACKEND_TYPES = ['native', 'pytorch', 'openai', 'vllm'] as const;

/** A refinement reporting the message of whatever `check` throws (the shared parsers' errors). */
function issueIfThrows<T>(check: (v: T) => unknown) {
  return (v: T, ctx: z.RefinementCtx) => {
    try {
      check(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  };
}

/** The models CSV's spelling of a reasoning state: on → On, "high" → "On (High)", "off (n/a)" → "Off (N/A)". */
export function reasoningStateLabel(value: string): string {
  const state = parseReasoningState(value);
  if (state.notApplicable) return 'Off (N/A)';
  if (!state.enabled) return 'Off';
  return state.effort ? `On (${state.effort[0]!.toUpperCase()}${state.effort.slice(1)})` : 'On';
}

/** What the HTTP client accepts (a bare host:port means http://host:port), checked by the client's own parser. */
const endpointUrl = z.string().superRefine(issueIfThrows(normalizeEndpoint));

const backendSchema = z.object({
  type: z.enum(BACKEND_TYPES).default('native'),
  model: text(z.string().min(1)).nullable().default(null),
  endpoint: endpointUrl.nullable().default(null),
  api: z.enum(['chat', 'completions']).default('chat'),
  api_key: text(z.string()).nullable().default(null),
  device: z.string().regex(/^(cpu|cuda(:\d+)?)$/, 'must be cpu, cuda or cuda:N').default('cpu'),
  device_ids: z.array(nonNegInt).nullable().default(null),
  torch_dtype: z.enum(DTYPE_NAMES).default('auto'),
  device_map: z.string().nullable().default(null),
  threads: posInt.nullable().default(null),
  max_seq_len: posInt.nullable().default(null),
  /** openai backend: local directory with the served model's tokenizer.json (for scenario.max_prompt_tokens). */
  tokenizer: z.string().min(1).nullable().default(null),
  // setTimeout's ceiling (2^31 − 1 ms): Node turns anything longer into 1 ms.
  request_timeout_ms: nonNegInt.max(2 ** 31 - 1).default(600_000),
  /** openai backend: PEM file of the CA(s) to trust for an https endpoint (a private CA). */
  ca_file: z.string().min(1).nullable().default(null),
  /** openai backend: where the streaming sockets are read and stamped (auto: worker with ≥ 4 CPUs). */
  socket_thread: z.enum(['auto', 'worker', 'main']).default('auto'),
});

const scenarioSchema = z.object({
  dataset_name: z.string().min(1).nullable().default(null),
  text_column_name: text(z.string().min(1)).default('text'),
  num_samples: posInt.nullable().default(null),
  sampling: z.enum(['first', 'random']).default('first'),
  seed: z.number().int().default(42),
  max_prompt_tokens: posInt.nullable().default(null),
  /**
   * true/false, or a models-CSV style state ("On (High)", "Off (N/A)", "low", …); a string is
   * kept in the batch runner's spelling (reasoningStateLabel), so `--reasoning on` and a models
   * CSV's "On" give the same master-CSV reasoning_state.
   */
  reasoning: z
    .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : typeof v === 'number' ? String(v) : v), z.union([z.boolean(), z.string()]))
    .transform((v, ctx) => {
      if (typeof v !== 'string') return v;
      try {
        return reasoningStateLabel(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    })
    .nullable()
    .default(null),
  reasoning_params: z.record(z.string(), z.unknown()).superRefine(issueIfThrows(normalizeReasoningParams)).nullable().default(null),
  temperature: z.number().min(0).default(0),
  top_p: z.number().gt(0).max(1).nullable().default(null),
  top_k: nonNegInt.nullable().default(null),
  generate_kwargs: z
    .object({ max_new_tokens: posInt.default(100), min_new_tokens: nonNegInt.default(0) })
    .loose()
    .default({ max_new_tokens: 100, min_new_tokens: 0 }),
});

const metricsSchema = z.object({
  type: z.enum(['codecarbon', 'native', 'nvml', 'none']).default('native'),
  enabled: boolish.default(true),
  project_name: text(z.string()).nullable().default(null),
  output_dir: z.string().nullable().default(null),
  /** ISO 3166 code (USA, FRA, …) or WORLD; checked against the carbon-intensity table below. */
  country_iso_code: z.string().nullable().default(null),
  region: z.string().nullable().default(null),
  /** Idle baseline length (s); null = 5 s when a sensor measures energy (GPU, RAPL), else none. */
  idle_seconds: z.number().nonnegative().nullable().default(null),
  /** Measure the idle baseline again after the measured phase (drift check). */
  idle_after: boolish.default(true),
  /** Watts per busy core for the CPU energy estimate where no CPU sensor exists (null = the monitor's default). */
  cpu_watts_per_core: z.number().positive().nullable().default(null),
});

const reporterSchema = z.object({
  type: z.enum(['csv']).default('csv'),
  output_file: z.string().nullable().default(null),
});

const loadSchema = z.object({
  mode: z.enum(['sequential', 'concurrency', 'rate']).default('sequential'),
  concurrency: posInt.default(1),
  rate: z.number().positive().nullable().default(null),
  arrival: z.enum(['constant', 'poisson', 'gamma']).default('poisson'),
  burstiness: z.number().positive().default(1),
  seed: z.number().int().default(0),
  max_concurrency: posInt.nullable().default(null),
});

const runnerSchema = z.object({
  warmup_requests: nonNegInt.default(1),
  max_consecutive_failures: nonNegInt.default(5),
});

/** Service-level objectives for goodput (ms; null = not part of the SLO). */
const sloSchema = z.object({
  ttft_ms: z.number().positive().nullable().default(null),
  tpot_ms: z.number().positive().nullable().default(null),
  e2e_ms: z.number().positive().nullable().default(null),
});

const resultsSchema = z.object({
  output_dir: z.string().min(1).default('./results'),
  master_csv: z.string().nullable().default(null),
  model_name: text(z.string()).nullable().default(null),
  model_class: text(z.string()).default(''),
  task: text(z.string()).default('text_generation'),
  reasoning_state: text(z.string()).nullable().default(null),
});

/** The config's sections; each defaults to its own defaults when absent. */
const SECTIONS = {
  backend: backendSchema,
  scenario: scenarioSchema,
  metrics: metricsSchema,
  reporter: reporterSchema,
  load: loadSchema,
  runner: runnerSchema,
  results: resultsSchema,
  slo: sloSchema,
};

export const configSchema = z
  .object({
    name: text(z.string().min(1)).default('aeb-run'),
    backend: backendSchema.default(backendSchema.parse({})),
    scenario: scenarioSchema.default(scenarioSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    reporter: reporterSchema.default(reporterSchema.parse({})),
    load: loadSchema.default(loadSchema.parse({})),
    runner: runnerSchema.default(runnerSchema.parse({})),
    results: resultsSchema.default(resultsSchema.parse({})),
    slo: sloSchema.default(sloSchema.parse({})),
  } satisfies Record<keyof typeof SECTIONS | 'name', z.ZodType>)
  .superRefine((c, ctx) => {
    if ((c.backend.type === 'vllm' || c.backend.type === 'openai') && !c.backend.endpoint)
      ctx.addIssue({ code: 'custom', path: ['backend', 'endpoint'], message: `is required for backend type ${c.backend.type} (e.g. http://localhost:8000/v1)` });
    if ((c.backend.type === 'vllm' || c.backend.type === 'openai') && !c.backend.model)
      ctx.addIssue({ code: 'custom', path: ['backend', 'model'], message: `is required for backend type ${c.backend.type} (the served model name)` });
    if ((c.backend.type === 'vllm' || c.backend.type === 'openai') && c.scenario.max_prompt_tokens !== null && !c.backend.tokenizer)
      ctx.addIssue({ code: 'custom', path: ['backend', 'tokenizer'], message:
        `is required to truncate prompts to scenario.max_prompt_tokens (--max-prompt-tokens) with backend type ${c.backend.type}: ` +
        `set backend.tokenizer=DIR (or --tokenizer DIR), a local directory holding the served model's tokenizer.json` });
    if (c.load.mode === 'rate' && c.load.rate === null)
      ctx.addIssue({ code: 'custom', path: ['load', 'rate'], message: 'is required when load.mode is rate (requests per second)' });
    // A location the emissions table lacks must fail now, not after a long run.
    const { country_iso_code, region } = c.metrics;
    if (country_iso_code !== null || region !== null) {
      try {
        carbonIntensityFor({ countryIsoCode: country_iso_code ?? undefined, region: region ?? undefined });
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['metrics', country_iso_code === null || /region/.test((e as Error).message) ? 'region' : 'country_iso_code'], message: `rejected: ${(e as Error).message}` });
      }
    }
    const g = c.scenario.generate_kwargs;
    if (g.min_new_tokens > g.max_new_tokens)
      ctx.addIssue({ code: 'custom', path: ['scenario', 'generate_kwargs', 'min_new_tokens'], message: `(${g.min_new_tokens}) must not exceed max_new_tokens (${g.max_new_tokens})` });
  });

export type BenchmarkConfig = z.output<typeof configSchema>;

/** Every key the schema knows, as dotted paths (for unknown-key warnings), generate_kwargs included. */
export function knownKeyPaths(): Set<string> {
  const out = new Set<string>();
  out.add('name');
  for (const [name, schema] of Object.entries(SECTIONS)) {
    out.add(name);
    for (const key of Object.keys(schema.shape)) out.add(`${name}.${key}`);
  }
  for (const key of ['max_new_tokens', 'min_new_tokens']) out.add(`scenario.generate_kwargs.${key}`);
  return out;
}
