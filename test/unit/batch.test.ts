import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, expect, it, vi } from 'vitest';
import { register as registerBatch } from '../../src/cli/commands/batch.js';
import { loadConfig } from '../../src/config/load.js';
import { filterModels, parseModelsCsv } from '../../src/config/models-csv.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';
import { planBatch, runBatch } from '../../src/runner/batch.js';
import { scriptedBackend } from '../helpers/scripted-backend.js';

const MODELS = join(import.meta.dirname, '../fixtures/old-system/models.csv');

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

it('parses the old models CSV (URL ids normalised, filler rows skipped) and filters like the old runner', async () => {
  const all = await parseModelsCsv(MODELS);
  expect(all).toHaveLength(11);
  expect(all[0]!.model).toBe('openai/gpt-oss-20b');
  expect(all[0]!.source).toBe('https://huggingface.co/openai/gpt-oss-20b');
  expect(filterModels(all, { modelName: 'GPT-OSS' })).toHaveLength(3);
  expect(filterModels(all, { modelClass: 'a' })).toHaveLength(6);
  expect(filterModels(all, { reasoningState: 'on (high)' }).map((e) => e.model)).toEqual(['openai/gpt-oss-20b']);
  expect(filterModels(all, { task: 'text_generation', modelName: 'qwen3' })).toHaveLength(2);
});

it('plans every reasoning state the old files use: On → up to 8192 tokens, Off → exactly 10', async () => {
  const plan = planBatch(await parseModelsCsv(MODELS));
  const by = (model: string, state: string) => plan.find((p) => p.model === model && p.reasoning_state === state)!;
  expect(plan.every((p) => p.error === null)).toBe(true);
  expect(by('openai/gpt-oss-20b', 'On (High)')).toMatchObject({ prompt_format: 'harmony', reasoning_params: { reasoning_effort: 'high' }, max_new_tokens: 8192, min_new_tokens: 1 });
  expect(by('openai/gpt-oss-20b', 'On (Low)').reasoning_params).toEqual({ reasoning_effort: 'low' });
  expect(by('openai/gpt-oss-120b', 'On (Medium)').reasoning_params).toEqual({ reasoning_effort: 'medium' });
  expect(by('Qwen/Qwen3-0.6B', 'On')).toMatchObject({ prompt_format: 'enable-thinking', reasoning_params: { enable_thinking: true } });
  expect(by('Qwen/Qwen3-0.6B', 'Off')).toMatchObject({ reasoning_params: { enable_thinking: false }, max_new_tokens: 10, min_new_tokens: 10 });
  expect(by('HuggingFaceTB/SmolLM3-3B', 'Off').prompt_format).toBe('think-flags');
  expect(by('tencent/Hunyuan-1.8B-Instruct', 'On').prompt_format).toBe('think-flags-user');
  expect(by('deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B', 'On').prompt_format).toBe('think-prefix');
  expect(by('nvidia/NVIDIA-Nemotron-Nano-9B-v2', 'Off').prompt_format).toBe('no-think-flag');
  expect(by('meta-llama/Llama-3.1-8B-Instruct', 'Off (N/A)')).toMatchObject({ prompt_format: 'none', reasoning_enabled: false, max_new_tokens: 10, min_new_tokens: 10 });
});

it('aeb batch --dry-run --json prints one JSON line per planned run with the required keys', async () => {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
  const program = new Command().exitOverride();
  registerBatch(program);
  await program.parseAsync(['node', 'aeb', 'batch', '--models', MODELS, '--dry-run', '--json', '--class', 'A']);
  const lines = out.join('').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(6);
  for (const l of lines) for (const k of ['model', 'reasoning_state', 'prompt_format', 'reasoning_params', 'max_new_tokens', 'min_new_tokens']) expect(l).toHaveProperty(k);
  expect(lines.map((l) => `${l.model} ${l.reasoning_state}`)).toContain('HuggingFaceTB/SmolLM3-3B On');
  expect(process.exitCode).toBe(0);
});

it('runs a batch: one failing model does not stop it; logs/, individual_runs/, master rows; --resume skips done runs', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-batch-'));
  const entries = filterModels(await parseModelsCsv(MODELS), { modelName: 'qwen3' }).concat(filterModels(await parseModelsCsv(MODELS), { modelName: 'hunyuan' }));
  const plan = planBatch(entries);
  const base = (await loadConfig({ overrides: ['metrics.enabled=false', 'scenario.num_samples=3', 'runner.warmup_requests=0', `results.output_dir=${out}`] })).config;
  const settingsSeen: Record<string, unknown>[] = [];
  const deps = {
    createBackend: async (_c: unknown, ctx: { modelName: string }) =>
      ctx.modelName.includes('Hunyuan') ? scriptedBackend({ openError: 'model weights not found' }) : scriptedBackend(),
  };
  const configFor = (run: (typeof plan)[number]) => {
    settingsSeen.push({ model: run.model, max: run.max_new_tokens });
    return { ...base, backend: { ...base.backend, model: run.model }, scenario: { ...base.scenario, generate_kwargs: { max_new_tokens: run.max_new_tokens, min_new_tokens: run.min_new_tokens } } };
  };
  const master = join(out, 'master_results.csv');
  const r = await runBatch(plan, deps, { configFor, outputDir: out, resume: false, masterCsv: master });
  expect(r.runs.map((x) => x.outcome?.status)).toEqual(['completed', 'completed', 'failed']);
  const t = await readCsvFile(master);
  expect(t.rows).toHaveLength(3);
  expect(t.rows.map((row) => [row[0], row[3]])).toEqual([['Qwen/Qwen3-0.6B', 'On'], ['Qwen/Qwen3-0.6B', 'Off'], ['tencent/Hunyuan-1.8B-Instruct', 'On']]);
  expect(t.rows[2]![MASTER_COLUMNS.indexOf('error_message')]).toMatch(/^FAILED: backend scripted failed to open: model weights not found/);
  expect(await readdir(join(out, 'logs'))).toHaveLength(3);
  const runs = (await readdir(join(out, 'individual_runs'))).sort();
  expect(runs).toHaveLength(3); // the failed run keeps its (empty) requests.jsonl
  expect(runs.filter((r) => r.includes('Hunyuan'))).toHaveLength(1);
  const jsonl = await readFile(join(out, 'individual_runs', runs[0]!, 'requests.jsonl'), 'utf8');
  expect(jsonl.trim().split('\n')).toHaveLength(3);

  const again = await runBatch(plan, deps, { configFor, outputDir: out, resume: true, masterCsv: master });
  expect(again.runs.map((x) => x.skipped ?? x.outcome?.status)).toEqual(['already completed (resume)', 'already completed (resume)', 'failed']);
});
