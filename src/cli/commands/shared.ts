// Pieces shared by `aeb run` and `aeb batch`: splitting positional arguments into a config
// file and a.b.c=value overrides, turning flags into overrides, and choosing exit codes.
import { stat } from 'node:fs/promises';
import { looksLikeOverride } from '../../config/overrides.js';
import type { BackendDescription } from '../../backends/types.js';
import type { PipelineDeps, PipelineOutcome } from '../../runner/pipeline.js';
import { CliError, EXIT, exitCodeFor, type ExitCode } from '../errors.js';

export async function splitArgs(args: readonly string[]): Promise<{ file: string | null; overrides: string[] }> {
  let file: string | null = null;
  const overrides: string[] = [];
  for (const a of args) {
    if (looksLikeOverride(a)) {
      overrides.push(a);
      continue;
    }
    if (file !== null) throw new CliError(`unexpected argument "${a}": give one config file and a.b.c=value overrides`);
    const found = await stat(a).catch(() => null);
    if (found?.isDirectory()) throw new CliError(`config file ${a} is a directory: give a YAML config file`);
    if (!found?.isFile()) throw new CliError(`config file ${a} does not exist (overrides look like a.b.c=value)`);
    file = a;
  }
  return { file, overrides };
}

/** Flag value → override "key=value" (values re-read as YAML scalars by the config loader). */
export function flagOverrides(map: Record<string, string>, opts: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [flag, key] of Object.entries(map)) {
    const v = opts[flag];
    if (v === undefined) continue;
    out.push(`${key}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return out;
}

export function parseIntOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new CliError(`--${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
}

export function parseNumberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new CliError(`--${name} must be a non-negative number, got "${value}"`);
    return n;
  };
}

/**
 * The backend type from the flags: --backend as given, else vllm when --endpoint names a server.
 * The in-process engine with an endpoint is a contradiction, not a guess to make.
 */
export function backendFromFlags(backend: string | undefined, endpoint: string | undefined): string | undefined {
  if (endpoint !== undefined && (backend === 'native' || backend === 'pytorch'))
    throw new CliError(`--backend ${backend} runs the model in-process and cannot use --endpoint ${endpoint}: drop --endpoint, or use --backend vllm to benchmark a server`);
  return backend ?? (endpoint !== undefined ? 'vllm' : undefined);
}

/** How a run ended, in words: "completed" only when some request succeeded and nothing stopped it early. */
export function outcomeLabel(o: PipelineOutcome): string {
  const s = o.summary;
  if (o.status !== 'completed' || !s) return o.status;
  if (s.total_prompts > 0 && s.successful_prompts === 0) return 'failed';
  if (s.stop_reason !== null) return 'stopped early';
  return 'completed';
}

function cliErrorIn(err: unknown): CliError | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof CliError) return e;
  return null;
}

/**
 * The error for a run whose max_new_tokens cannot fit the model's context (the backend's
 * details.maxSeqLen, reported by the native engine): even a one-token prompt would overflow the
 * KV cache, so every request would fail. `advice` says which flag or key to change.
 */
export function contextOverflow(maxNewTokens: number, description: BackendDescription, advice: string): CliError | null {
  const maxSeqLen = description.details?.maxSeqLen;
  if (typeof maxSeqLen !== 'number' || maxNewTokens <= maxSeqLen) return null;
  return new CliError(
    `max_new_tokens ${maxNewTokens} does not fit the model's context of ${maxSeqLen} positions (KV cache: prompt + max_new_tokens - 1), ` +
    `so every request would fail; ${advice}`, EXIT.USAGE);
}

/**
 * `deps` that refuse a run with contextOverflow's error once the backend is open: before the
 * idle baseline and the measured phase (the run fails as a whole, with a FAILED master row).
 */
export function withContextCheck(deps: PipelineDeps, advice: string): PipelineDeps {
  return {
    ...deps,
    checkOpened(config, description) {
      deps.checkOpened?.(config, description);
      const overflow = contextOverflow(config.scenario.generate_kwargs.max_new_tokens, description, advice);
      if (overflow) throw overflow;
    },
  };
}

/** Exit code of one finished pipeline run. */
export function outcomeExitCode(o: PipelineOutcome, interrupted: ExitCode | null): ExitCode {
  if (interrupted !== null || o.status === 'interrupted') return interrupted ?? EXIT.INTERRUPTED;
  if (o.status === 'failed') {
    // A CliError under the runner's wrapper (e.g. a check at backend open) chose its own code.
    const chosen = cliErrorIn(o.cause);
    const code = chosen ? chosen.exitCode : exitCodeFor(o.cause);
    return code === EXIT.INTERNAL ? EXIT.RUN_FAILED : code;
  }
  const s = o.summary!;
  return s.failed_prompts > 0 || s.stop_reason !== null ? EXIT.PARTIAL : EXIT.OK;
}

/** What --json prints per run: the old summary keys (seconds) + new statistics. */
export function runJson(o: PipelineOutcome, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    run_id: o.runId,
    status: o.status,
    ...extra,
    reasoning_format: o.reasoningFormat,
    reasoning_label: o.reasoningLabel,
    error: o.error,
    backend: o.result?.description ?? null,
    summary: o.summary,
    warnings: o.result?.warnings ?? [],
    files: o.files,
  };
}
