// Pieces shared by `aeb run` and `aeb batch`: splitting positional arguments into a config
// file and a.b.c=value overrides, turning flags into overrides, and choosing exit codes.
import { stat } from 'node:fs/promises';
import { looksLikeOverride } from '../../config/overrides.js';
import type { PipelineOutcome } from '../../runner/pipeline.js';
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
    const isFile = await stat(a).then((s) => s.isFile(), () => false);
    if (!isFile) throw new CliError(`config file ${a} does not exist (overrides look like a.b.c=value)`);
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

/** Exit code of one finished pipeline run. */
export function outcomeExitCode(o: PipelineOutcome, interrupted: ExitCode | null): ExitCode {
  if (interrupted !== null || o.status === 'interrupted') return interrupted ?? EXIT.INTERRUPTED;
  if (o.status === 'failed') {
    const code = exitCodeFor(o.cause);
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
