// Regressions from a user walk-through: local checkpoints in the models CSV, --resume after a run
// where every prompt failed, max_new_tokens beyond the model's context, load flags that were
// silently dropped, and smaller option-handling slips.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendDescription } from '../../src/backends/types.js';
import { batchRunOverrides } from '../../src/cli/commands/batch.js';
import { assertLoadFlagsApply, ignoredFlagWarnings, RUN_CONTEXT_ADVICE, runOverrides } from '../../src/cli/commands/run.js';
import { contextOverflow, outcomeExitCode, splitArgs, withContextCheck } from '../../src/cli/commands/shared.js';
import { EXIT } from '../../src/cli/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { localModelPath, parseModelsCsvText } from '../../src/config/models-csv.js';
import type { BenchmarkConfig } from '../../src/config/schema.js';
import { describeLoadPlan } from '../../src/load/plan.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';
import { planBatch, runBatch } from '../../src/runner/batch.js';
import { loadPlanOf, runConfigured } from '../../src/runner/pipeline.js';
import { scriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

const HEADER = 'Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template';
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'aeb-cli-fixes-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const config = async (overrides: string[]) => (await loadConfig({ overrides: ['metrics.enabled=false', 'runner.warmup_requests=0', ...overrides] })).config;

describe('models CSV: local checkpoints', () => {
  it('a path cell is the model to load (the reasoning registry keys on its last segment); hub ids and URLs are unchanged', () => {
    const entries = parseModelsCsvText([
      HEADER,
      '/root/.cache/ai-energy-benchmarks/default-model-v1/,1,A,text_generation,Off,',
      './ckpt/Qwen3-0.6B,1,A,text_generation,On,',
      '../models/m,1,B,text_generation,Off,',
      'Qwen/Qwen3-0.6B,1,A,text_generation,On,',
      'https://huggingface.co/openai/gpt-oss-20b,1,A,text_generation,On (High),',
    ].join('\n'));
    expect(entries.map((e) => [e.model, e.local])).toEqual([
      ['/root/.cache/ai-energy-benchmarks/default-model-v1', true],
      ['./ckpt/Qwen3-0.6B', true],
      ['../models/m', true],
      ['Qwen/Qwen3-0.6B', false],
      ['openai/gpt-oss-20b', false],
    ]);
    const plan = planBatch(entries);
    // The local Qwen3 checkpoint still gets its family's reasoning format.
    expect(plan[1]).toMatchObject({ model: './ckpt/Qwen3-0.6B', prompt_format: 'enable-thinking', max_new_tokens: 8192 });
    expect(batchRunOverrides(plan[0]!, {})).toContain('backend.model="/root/.cache/ai-energy-benchmarks/default-model-v1"');
  });

  it('a cell naming an existing directory is a path even when it could be a hub id', async () => {
    await mkdir(join(work, 'org', 'tiny'), { recursive: true });
    await mkdir(join(work, 'solo'), { recursive: true });
    expect(localModelPath('org/tiny', work)).toBe('org/tiny');
    expect(localModelPath('solo/', work)).toBe('solo');
    expect(localModelPath('org/absent', work)).toBeNull();
    expect(localModelPath('hf.co/org/name', work)).toBeNull();
  });
});

describe('batch --resume', () => {
  it('retries a recorded run whose every prompt failed (successful_prompts 0) and skips a run that succeeded', async () => {
    const out = join(work, 'resume');
    const entries = parseModelsCsvText([HEADER, 'org/broken,1,A,text_generation,Off,', 'org/fine,1,A,text_generation,Off,'].join('\n'));
    const plan = planBatch(entries);
    const base = await config(['scenario.num_samples=2', `results.output_dir=${out}`]);
    const deps = {
      createBackend: async (_c: unknown, ctx: { modelName: string }) =>
        ctx.modelName === 'org/broken' ? scriptedBackend({ script: () => ({ fail: 'INVALID_ARGUMENT' }) }) : scriptedBackend(),
    };
    const configFor = () => base;
    const masterCsv = join(out, 'master_results.csv');
    const first = await runBatch(plan, deps, { configFor, outputDir: out, resume: false, masterCsv });
    expect(first.runs.map((r) => [r.outcome?.status, r.outcome?.summary?.successful_prompts])).toEqual([['completed', 0], ['completed', 2]]);
    const rows = (await readCsvFile(masterCsv)).rows;
    expect(rows.map((r) => r[MASTER_COLUMNS.indexOf('successful_prompts')])).toEqual(['0', '2']);

    const again = await runBatch(plan, deps, { configFor, outputDir: out, resume: true, masterCsv });
    expect(again.runs.map((r) => r.skipped ?? r.outcome?.status)).toEqual(['completed', 'already completed (resume)']);
  });
});

/** A scripted backend that reports a native-style context (details.maxSeqLen) when opened. */
function withContext(backend: ScriptedBackend, maxSeqLen: number): ScriptedBackend {
  const open = backend.open.bind(backend);
  backend.open = async (): Promise<BackendDescription> => ({ ...(await open()), details: { maxSeqLen } });
  return backend;
}

describe('max_new_tokens beyond the model context', () => {
  it('fails the run when the backend opens, before any request, as a usage error naming the setting, the context and the flags', async () => {
    const out = join(work, 'ctx');
    const cfg = await config(['scenario.num_samples=2', 'scenario.generate_kwargs.max_new_tokens=8192', `results.output_dir=${out}`]);
    const backend = withContext(scriptedBackend(), 2048);
    const o = await runConfigured(cfg, withContextCheck({ createBackend: async () => backend }, RUN_CONTEXT_ADVICE));
    expect(o.status).toBe('failed');
    expect(o.error).toMatch(/max_new_tokens 8192 does not fit the model's context of 2048 positions/);
    expect(o.error).toMatch(/--max-new-tokens \(scenario\.generate_kwargs\.max_new_tokens\).*--max-seq-len \(backend\.max_seq_len\)/);
    expect(backend.calls).toBe(0);
    expect(backend.closed).toBe(true);
    expect(outcomeExitCode(o, null)).toBe(EXIT.USAGE);
    const row = (await readCsvFile(join(out, 'master_results.csv'))).rows[0]!;
    expect(row[MASTER_COLUMNS.indexOf('error_message')]).toMatch(/^FAILED: .*max_new_tokens 8192 does not fit/);
  });

  it('lets a budget that fits run, and ignores backends that report no context', async () => {
    const cfg = await config(['scenario.num_samples=2', 'scenario.generate_kwargs.max_new_tokens=2048', `results.output_dir=${join(work, 'ctx-ok')}`]);
    const backend = withContext(scriptedBackend(), 2048);
    const o = await runConfigured(cfg, withContextCheck({ createBackend: async () => backend }, 'advice'));
    expect(o.status).toBe('completed');
    expect(backend.calls).toBe(2);
    expect(contextOverflow(8192, { backend: 'openai', model: 'm' }, 'advice')).toBeNull();
    expect(contextOverflow(2049, { backend: 'native', model: 'm', details: { maxSeqLen: 2048 } }, 'do X')?.message).toMatch(/; do X$/);
  });
});

describe('load flags', () => {
  it('--concurrency with --rate caps the requests in flight instead of being dropped', async () => {
    const cfg = await config(runOverrides({ concurrency: 2, rate: 5 }));
    expect(loadPlanOf(cfg)).toMatchObject({ mode: 'rate', rate: 5, maxConcurrency: 2 });
    expect(describeLoadPlan(loadPlanOf(cfg))).toBe('rate 5/s poisson, max 2 in flight');
    expect(() => runOverrides({ concurrency: 2, rate: 5, maxConcurrency: 3 })).toThrow(/--concurrency 2 and --max-concurrency 3/);
    // A rate-mode config file with load.concurrency set says what the key does not do.
    const { warnings } = await loadConfig({ overrides: ['load.mode=rate', 'load.rate=5', 'load.concurrency=3'] });
    expect(warnings).toContain('load.concurrency 3 is ignored with load.mode rate: set load.max_concurrency 3 (or --concurrency with --rate) to cap the requests in flight');
  });

  it('--arrival, --burstiness and --max-concurrency without --rate, or --burstiness without gamma, are usage errors naming the missing flag', async () => {
    const check = async (opts: Record<string, unknown>, file: string[] = []) => assertLoadFlagsApply(opts, await config([...file, ...runOverrides(opts)]));
    await expect(check({ arrival: 'gamma' })).rejects.toThrow(/^--arrival applies to an open loop only and would be ignored: add --rate R/);
    await expect(check({ burstiness: 0.3 })).rejects.toThrow(/^--burstiness applies .*add --rate R/);
    await expect(check({ maxConcurrency: 4, concurrency: 2 })).rejects.toThrow(/^--max-concurrency applies .*add --rate R/);
    await expect(check({ burstiness: 0.3, rate: 5 })).rejects.toThrow('--burstiness shapes gamma arrivals only and would be ignored with arrival poisson: add --arrival gamma');
    await expect(check({ burstiness: 0.3, rate: 5, arrival: 'gamma' })).resolves.toBeUndefined();
    // Rate mode from the config file: --arrival on the command line applies.
    await expect(check({ arrival: 'gamma' }, ['load.mode=rate', 'load.rate=2'])).resolves.toBeUndefined();
  });
});

describe('smaller option fixes', () => {
  it('a run name, task or model class that reads as a number is kept as text', async () => {
    const cfg = await config(['name=123', 'results.task=2024', 'results.model_class=7']);
    expect(cfg.name).toBe('123');
    expect(cfg.results.task).toBe('2024');
    expect(cfg.results.model_class).toBe('7');
  });

  it('--reasoning is stored in the batch spelling, so the master CSV says "On" like a models CSV', async () => {
    const spelled = async (v: string) => (await config(runOverrides({ reasoning: v }))).scenario.reasoning;
    expect(await spelled('on')).toBe('On');
    expect(await spelled('OFF')).toBe('Off');
    expect(await spelled('high')).toBe('On (High)');
    expect(await spelled('off (n/a)')).toBe('Off (N/A)');
    await expect(spelled('sometimes')).rejects.toThrow(/scenario\.reasoning reasoning state "sometimes" is not understood/);
    const out = join(work, 'reasoning');
    const cfg = await config([...runOverrides({ reasoning: 'on' }), 'scenario.num_samples=1', `results.output_dir=${out}`]);
    await runConfigured(cfg, { createBackend: async () => scriptedBackend() });
    const row = (await readCsvFile(join(out, 'master_results.csv'))).rows[0]!;
    expect(row[MASTER_COLUMNS.indexOf('reasoning_state')]).toBe('On');
  });

  it('a directory given as the config file is named as a directory', async () => {
    await expect(splitArgs([work])).rejects.toThrow(`config file ${work} is a directory: give a YAML config file`);
    await expect(splitArgs([join(work, 'absent.yaml')])).rejects.toThrow(/does not exist/);
  });

  it('--device, --dtype, --threads and --max-seq-len with a server backend are warned about; --tokenizer with the native engine too', async () => {
    const opts = { endpoint: 'http://127.0.0.1:8000/v1', model: 'm', device: 'cuda', dtype: 'bf16', threads: 4, maxSeqLen: 4096 };
    const server: BenchmarkConfig = await config(runOverrides(opts));
    expect(ignoredFlagWarnings(opts, server)).toEqual(['--device', '--dtype', '--threads', '--max-seq-len']
      .map((f) => `${f} applies to the native engine only and is ignored with backend vllm (the server's own settings decide)`));
    const native = await config(runOverrides({ device: 'cpu', tokenizer: '/tmp/tok' }));
    expect(ignoredFlagWarnings({ device: 'cpu', tokenizer: '/tmp/tok' }, native)).toEqual([
      "--tokenizer applies to a server backend only and is ignored: the native engine uses the model directory's own tokenizer",
    ]);
    expect((await config(runOverrides({ maxSeqLen: 4096 }))).backend.max_seq_len).toBe(4096);
  });
});
