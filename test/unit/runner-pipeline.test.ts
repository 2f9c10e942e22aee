import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { outcomeExitCode } from '../../src/cli/commands/shared.js';
import { EXIT } from '../../src/cli/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { ResultsFileError } from '../../src/results/master-csv.js';
import { runConfigured } from '../../src/runner/pipeline.js';
import { scriptedBackend } from '../helpers/scripted-backend.js';

async function config(out: string, extra: string[]) {
  return (await loadConfig({ overrides: ['metrics.enabled=false', 'runner.warmup_requests=0', 'scenario.num_samples=2', `results.output_dir=${out}`, ...extra] })).config;
}

it('formats prompts per model family and hands reasoning settings to the backend', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const gpt = scriptedBackend();
  const o1 = await runConfigured(await config(out, ['backend.model=openai/gpt-oss-20b', 'scenario.reasoning=On (High)']), { createBackend: async () => gpt });
  expect(o1.status).toBe('completed');
  expect(o1.reasoningFormat).toBe('harmony');
  expect(gpt.seenSettings[0]!.reasoning).toEqual({ enabled: true, params: { reasoning_effort: 'high' } });

  const smol = scriptedBackend();
  const o2 = await runConfigured(await config(out, ['backend.model=HuggingFaceTB/SmolLM3-3B', 'scenario.reasoning=false']), { createBackend: async () => smol });
  expect(o2.reasoningFormat).toBe('think-flags');
  expect(smol.seenPrompts[0]!.messages).toEqual([{ role: 'system', content: '/no_think' }, { role: 'user', content: smol.seenPrompts[0]!.text }]);
  expect(smol.seenSettings[0]!.reasoning?.enabled).toBe(false);

  const plain = scriptedBackend();
  const o3 = await runConfigured(await config(out, ['backend.model=some/model']), { createBackend: async () => plain });
  expect(o3.reasoningFormat).toBeNull();
  expect(plain.seenPrompts[0]!.messages).toBeUndefined();
  expect(plain.seenSettings[0]!.reasoning).toBeUndefined();

  const t = await readCsvFile(join(out, 'master_results.csv'));
  expect(t.rows.map((r) => r[3])).toEqual(['On (High)', 'Off', '']);
});

it('writes report.json (config, environment, summary, energy, formulas), results.csv and the JSONL', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const backend = scriptedBackend({ script: (_p, call) => (call === 1 ? { fail: 'HTTP 500' } : { completionTokens: 6 }) });
  const o = await runConfigured(await config(out, ['backend.model=m', 'scenario.num_samples=3', 'load.mode=concurrency', 'load.concurrency=2']), {
    createBackend: async () => backend, environment: async () => ({ host: 'test' }),
  });
  const report = JSON.parse(await readFile(o.files.report, 'utf8'));
  expect(report.schema).toBe('aeb.run-report/1');
  expect(report.config.backend.model).toBe('m');
  expect(report.environment).toEqual({ host: 'test' });
  expect(report.summary.failed_prompts).toBe(1);
  expect(report.energy.status).toBe('unavailable');
  expect(report.formulas.tpot).toMatch(/completion_tokens − 1/);
  expect(report.load.description).toBe('concurrency 2');
  const csv = await readCsvFile(o.files.csv);
  expect(csv.header).toEqual(MASTER_COLUMNS);
  expect(csv.rows[0]![MASTER_COLUMNS.indexOf('error_message')]).toMatch(/^PARTIAL FAILURE: 1\/3 prompts failed \(33\.3%\)/);
  const lines = (await readFile(o.files.records, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(3);
  expect(lines.filter((l) => !l.success).map((l) => l.error)).toEqual(['HTTP 500']);
  expect(lines.find((l) => l.success)).toMatchObject({ completionTokens: 6, textLength: 6 });
  expect(typeof lines[0].startNs).toBe('string');
});

it('checks the master CSV before running: an old-layout file stops the run with a message', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const { copyFile } = await import('node:fs/promises');
  await copyFile(join(import.meta.dirname, '../fixtures/old-system/master_results_pre_rename.csv'), join(out, 'master_results.csv'));
  const backend = scriptedBackend();
  await expect(runConfigured(await config(out, ['backend.model=m']), { createBackend: async () => backend })).rejects.toBeInstanceOf(ResultsFileError);
  expect(backend.calls).toBe(0);
});

it('a results file that cannot be written after the run keeps the measurements (no FAILED row, summary returned)', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const backend = scriptedBackend({ script: () => ({ completionTokens: 4 }) });
  // reporter.output_file names a directory: writing it fails after the run.
  const o = await runConfigured(await config(out, ['backend.model=m', `reporter.output_file=${out}`]), { createBackend: async () => backend });
  expect(o.status).toBe('failed');
  expect(o.error).toMatch(/^results could not be written: .*EISDIR/);
  // The CLI maps this to exit code 5 (results-file problem), not 3 (run failed).
  expect(outcomeExitCode(o, null)).toBe(EXIT.RESULTS_FILE);
  expect(o.summary?.successful_prompts).toBe(2);
  expect(o.summary?.total_completion_tokens).toBe(8);
  const t = await readCsvFile(join(out, 'master_results.csv'));
  expect(t.rows).toHaveLength(1);
  expect(t.rows[0]![MASTER_COLUMNS.indexOf('successful_prompts')]).toBe('2');
  expect(t.rows[0]![MASTER_COLUMNS.indexOf('error_message')]).toBe('');
});

it('closes the backend when the energy monitor cannot be created, and records the failure with the planned count', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  let created = false;
  const o = await runConfigured(await config(out, ['backend.model=m', 'metrics.enabled=true']), {
    createBackend: async () => { created = true; return scriptedBackend(); },
    createEnergyMonitor: async () => { throw new Error('NVML exploded'); },
  });
  expect(o.status).toBe('failed');
  expect(created).toBe(false); // never created, so nothing is left open
  const t = await readCsvFile(join(out, 'master_results.csv'));
  expect(t.rows[0]![MASTER_COLUMNS.indexOf('error_message')]).toBe('FAILED: NVML exploded');
  expect(t.rows[0]![MASTER_COLUMNS.indexOf('total_prompts')]).toBe('2');
});

it('a dataset that cannot be read writes no FAILED row (the model was never run) and names the problem', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  let created = false;
  const o = await runConfigured(await config(out, ['backend.model=m', `scenario.dataset_name=${join(out, 'missing.jsonl')}`]), {
    createBackend: async () => { created = true; return scriptedBackend(); },
  });
  expect(o.status).toBe('failed');
  expect(o.error).toMatch(/dataset file .*missing\.jsonl does not exist/);
  expect(created).toBe(false);
  await expect(readCsvFile(join(out, 'master_results.csv'))).rejects.toThrow();
});

it('persists the energy monitor telemetry timeline next to the requests (same clock), and names it in the report', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const rows = [{ t: 0.1, monoNs: '123', unixMs: 1, gpus: [] }, { t: 0.2, monoNs: '456', unixMs: 2, gpus: [] }];
  const monitor = {
    measureIdle: async () => null, startWindow: async () => undefined,
    stopWindow: async () => ({ label: 'measured', startNs: 0n, endNs: 1n, seconds: 1, figures: [], gpuJoules: null, cpuJoules: null }),
    timeline: () => rows, close: async () => undefined,
  };
  const o = await runConfigured(await config(out, ['backend.model=m', 'metrics.enabled=true']), {
    createBackend: async () => scriptedBackend(), createEnergyMonitor: async () => monitor,
  });
  expect(o.status).toBe('completed');
  const lines = (await readFile(o.files.telemetry, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toEqual(rows);
  expect(JSON.parse(await readFile(o.files.report, 'utf8')).files.telemetry).toBe(o.files.telemetry);
});

it('gpu_count names the GPUs doing the work: one for the native engine, unknown (empty) for a server without device_ids', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  await runConfigured(await config(out, ['backend.model=m', 'backend.device=cuda', 'backend.device_ids=[0,1]']), { createBackend: async () => scriptedBackend() });
  await runConfigured(await config(out, ['backend.type=vllm', 'backend.model=m', 'backend.endpoint=http://127.0.0.1:9/v1']), { createBackend: async () => scriptedBackend() });
  const t = await readCsvFile(join(out, 'master_results.csv'));
  expect(t.rows.map((r) => r[MASTER_COLUMNS.indexOf('gpu_count')])).toEqual(['1', '']);
});

it('leaves the device cell empty for a server that does not report its device, never the client default (cpu)', async () => {
  const out = await mkdtemp(join(tmpdir(), 'aeb-pipe-'));
  const server = () => {
    const b = scriptedBackend({ kind: 'openai' });
    return { ...b, open: async () => ({ backend: 'openai', model: 'm', details: { endpoint: 'http://127.0.0.1:9/v1' } }) };
  };
  await runConfigured(await config(out, ['backend.type=vllm', 'backend.model=m', 'backend.endpoint=http://127.0.0.1:9/v1']), { createBackend: async () => server() });
  await runConfigured(await config(out, ['backend.model=m']), { createBackend: async () => scriptedBackend() });
  const t = await readCsvFile(join(out, 'master_results.csv'));
  expect(t.rows.map((r) => r[MASTER_COLUMNS.indexOf('device')])).toEqual(['', 'cpu']);
});
