// Child-process tests of the compiled CLI and of an interrupted run. The sources are
// transpiled (TypeScript transpileModule, no type check) into a temporary directory next to
// a node_modules link, so these tests do not depend on `npm run build` having run.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStream } from '../../src/backends/openai/emulator-script.js';
import { startOpenAIEmulator, type OpenAIEmulator } from '../../src/backends/openai/emulator.js';
import { EXIT } from '../../src/cli/errors.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { loadTextPipeline } from '../../src/text/pipeline.js';
import { QWEN3_DIR } from '../fixtures/text/paths.js';

const ROOT = join(import.meta.dirname, '../..');
const FIX = join(ROOT, 'test/fixtures/old-system');
let dist: string;
let work: string;

async function transpileTree(src: string, out: string): Promise<void> {
  for (const e of await readdir(src, { withFileTypes: true, recursive: true })) {
    const file = join(e.parentPath, e.name);
    if (e.isFile() && e.name.endsWith('.cjs')) {
      // plain CommonJS sources (the socket host) ship as they are
      await mkdir(dirname(join(out, relative(src, file))), { recursive: true });
      await copyFile(file, join(out, relative(src, file)));
      continue;
    }
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.d.ts')) continue;
    const js = ts.transpileModule(await readFile(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    }).outputText;
    const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, js);
  }
}

interface Result { code: number | null; stdout: string; stderr: string; ms: number }

function node(args: string[], opts: { onSpawn?: (child: ReturnType<typeof spawn>) => void; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { cwd: work, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 }));
    opts.onSpawn?.(child);
  });
}

const aeb = (...args: string[]) => node([join(dist, 'cli/main.js'), ...args], { env: { XDG_CACHE_HOME: join(work, 'cache') } });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'aeb-cli-'));
  dist = join(work, 'dist');
  await transpileTree(join(ROOT, 'src'), dist);
  await writeFile(join(work, 'package.json'), '{"type":"module"}');
  await symlink(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
}, 120_000);

afterAll(async () => {
  // rm does not follow the node_modules symlink.
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Calls `act` once, as soon as the run writing under `out` has `lines` records in its
 * requests.jsonl (polled every 10 ms; ticks overlap while awaiting the reads, so a flag makes
 * it exactly once: a second SIGINT would exit at once, by design).
 */
function whenRecordsWritten(out: string, lines: number, act: () => void): void {
  let done = false;
  const poll = setInterval(async () => {
    const runs = await readdir(join(out, 'individual_runs')).catch(() => []);
    if (runs.length === 0) return;
    const text = await readFile(join(out, 'individual_runs', runs[0]!, 'requests.jsonl'), 'utf8').catch(() => '');
    if (!done && text.split('\n').filter(Boolean).length >= lines) {
      done = true;
      clearInterval(poll);
      act();
    }
  }, 10);
}

describe('interrupt (SIGINT) mid-run', () => {
  const child = `
import { loadConfig } from './dist/config/load.js';
import { runConfigured } from './dist/runner/pipeline.js';
import { installInterruptHandler } from './dist/cli/interrupt.js';
import { outcomeExitCode } from './dist/cli/commands/shared.js';
const out = process.argv[2];
const { config } = await loadConfig({ overrides: ['metrics.enabled=false', 'runner.warmup_requests=1', 'scenario.num_samples=40',
  'load.mode=concurrency', 'load.concurrency=2', 'results.output_dir=' + out, 'backend.model=kill-test-model'] });
const interrupt = installInterruptHandler();
const record = (prompt, startNs, ok) => ({ index: prompt.index, success: ok, ...(ok ? {} : { error: 'aborted' }), startNs, endNs: process.hrtime.bigint(),
  queueMs: 0, ttftMs: ok ? 5 : null, ttfoMs: ok ? 5 : null, ttstMs: null, e2eMs: ok ? 40 : null, tpotMs: ok ? 10 : null, itlMs: [], iclMs: [],
  promptTokens: ok ? 10 : null, completionTokens: ok ? 4 : null, tokenCountSource: ok ? 'engine' : 'unknown', text: ok ? 'done' : '' });
const backend = {
  kind: 'scripted', open: async () => ({ backend: 'scripted', model: 'kill-test-model' }), close: async () => {},
  generate: (prompt, settings, signal) => new Promise((resolve) => {
    const startNs = process.hrtime.bigint();
    const t = setTimeout(() => resolve(record(prompt, startNs, true)), 40);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(record(prompt, startNs, false)); }, { once: true });
  }),
};
let sigAt = 0n;
process.on('SIGINT', () => { sigAt = process.hrtime.bigint(); });
const log = (m) => process.stderr.write(\`[+\${sigAt ? Number(process.hrtime.bigint() - sigAt) / 1e6 : -1} ms] \${m}\n\`);
const o = await runConfigured(config, { createBackend: async () => backend, signal: interrupt.signal, log });
log('runConfigured returned');
process.stdout.write(JSON.stringify({ status: o.status, total: o.summary?.total_prompts, files: o.files }) + '\\n');
process.exitCode = outcomeExitCode(o, interrupt.exitCode());
`;

  it('exits non-zero within 2 s with every finished request in the JSONL, the report and the master CSV', async () => {
    const out = join(work, 'kill-out');
    await writeFile(join(work, 'kill-child.mjs'), child);
    let signalledAt = 0;
    const r = await node([join(work, 'kill-child.mjs'), out], {
      onSpawn: (c) => {
        whenRecordsWritten(out, 7, () => {
          signalledAt = Date.now();
          c.kill('SIGINT');
        });
      },
    });
    const exitMs = Date.now() - signalledAt;
    expect(signalledAt).toBeGreaterThan(0);
    expect(r.code).toBe(EXIT.INTERRUPTED);
    expect(exitMs).toBeLessThan(2000);
    expect(r.stdout.trim(), `the child printed no result; its stderr: ${r.stderr}`).not.toBe('');
    const { status, total, files } = JSON.parse(r.stdout);
    expect(status).toBe('interrupted');
    const lines = (await readFile(files.records, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const measured = lines.filter((l) => !l.warmup);
    expect(lines.filter((l) => l.warmup)).toHaveLength(1);
    expect(measured.length).toBe(total);
    expect(total).toBeGreaterThanOrEqual(5);
    expect(total).toBeLessThan(40);
    expect(measured.every((l) => typeof l.startNs === 'string')).toBe(true);
    // The requests in flight when the signal came (concurrency 2) are kept, as failed: their
    // time and energy are in the measured window.
    const cut = measured.filter((l) => !l.success);
    expect(cut.length).toBeGreaterThanOrEqual(1);
    expect(cut.length).toBeLessThanOrEqual(2);
    for (const l of cut) expect(l.error).toMatch(/^cancelled by interrupt/);
    expect(measured.filter((l) => l.success).length).toBeGreaterThanOrEqual(5);
    const report = JSON.parse(await readFile(files.report, 'utf8'));
    expect(report.summary.total_prompts).toBe(total);
    expect(report.summary.stop_reason).toBe('interrupted');
    const t = await readCsvFile(files.master);
    expect(t.rows).toHaveLength(1);
    expect(t.rows[0]![MASTER_COLUMNS.indexOf('total_prompts')]).toBe(String(total));
    expect(t.rows[0]![MASTER_COLUMNS.indexOf('stop_reason')]).toBe('interrupted');
  });

  it('the same signal delivered twice at once (coreutils timeout: process, then group) still writes every result file', async () => {
    const out = join(work, 'kill-twice-out');
    await writeFile(join(work, 'kill-child.mjs'), child);
    let signalled = false;
    const r = await node([join(work, 'kill-child.mjs'), out], {
      onSpawn: (c) => {
        whenRecordsWritten(out, 4, () => {
          signalled = true;
          c.kill('SIGINT');
          // The second copy a moment later (two copies sent back to back merge into one pending signal).
          setTimeout(() => c.kill('SIGINT'), 3);
        });
      },
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(EXIT.INTERRUPTED);
    expect(r.stdout.trim(), `the child printed no result; its stderr: ${r.stderr}`).not.toBe('');
    const { status, files } = JSON.parse(r.stdout);
    expect(status).toBe('interrupted');
    expect(JSON.parse(await readFile(files.report, 'utf8')).summary.stop_reason).toBe('interrupted');
    expect((await readCsvFile(files.master)).rows).toHaveLength(1);
  });
});

it('concurrent writer processes append whole rows to one master_results.csv', async () => {
  const file = join(work, 'shared-master.csv');
  await writeFile(join(work, 'append-child.mjs'), `
import { appendMasterRow, buildFailedRow } from './dist/results/master-csv.js';
const [file, who] = process.argv.slice(2);
for (let i = 0; i < 10; i++) await appendMasterRow(file, buildFailedRow({ modelName: who + '-' + i, runId: who + '-' + i }, 1, 0.5, 'error, with "quotes"\\nand a newline'));
`);
  const results = await Promise.all(['a', 'b', 'c', 'd'].map((who) => node([join(work, 'append-child.mjs'), file, who])));
  expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
  const t = await readCsvFile(file);
  expect(t.header).toEqual(MASTER_COLUMNS);
  expect(t.rows).toHaveLength(40);
  expect(new Set(t.rows.map((r) => r[0])).size).toBe(40);
  for (const r of t.rows) expect(r[MASTER_COLUMNS.indexOf('error_message')]).toBe('FAILED: error, with "quotes"\nand a newline');
});

describe('aeb CLI (child processes)', () => {
  let emu: OpenAIEmulator;
  beforeAll(async () => {
    // The server's own TTFT histogram: every request it served so far took 50 ms to first token.
    let served = 0;
    const ttftHistogram = () => [
      '# TYPE vllm:time_to_first_token_seconds histogram',
      `vllm:time_to_first_token_seconds_bucket{model_name="emulated-model",le="0.01"} 0`,
      `vllm:time_to_first_token_seconds_bucket{model_name="emulated-model",le="0.1"} ${served}`,
      `vllm:time_to_first_token_seconds_bucket{model_name="emulated-model",le="+Inf"} ${served}`,
      `vllm:time_to_first_token_seconds_sum{model_name="emulated-model"} ${(served * 0.05).toFixed(3)}`,
      `vllm:time_to_first_token_seconds_count{model_name="emulated-model"} ${served}`,
      '',
    ].join('\n');
    emu = await startOpenAIEmulator({
      respond: () => {
        served++;
        return { steps: buildStream({ tokens: ['Hello', ' there', ',', ' friend', '.'], promptTokens: 11 }).steps };
      },
      metrics: ttftHistogram,
    });
  });
  afterAll(async () => {
    await emu?.close();
  });

  it('aeb run against an OpenAI-compatible server prints one JSON object with the old keys and writes results', async () => {
    const out = join(work, 'run-out');
    const r = await aeb('run', '--backend', 'vllm', '--endpoint', `${emu.url}/v1`, '--model', 'emulated-model', '--num-prompts', '3',
      '--warmup', '0', '--no-energy', '--json', '--output-dir', out, '--slo-ttft-ms', '60000', '--slo-e2e-ms', '0.001', 'name=cli-test');
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(o.status).toBe('completed');
    expect(o.summary).toMatchObject({ total_prompts: 3, successful_prompts: 3, failed_prompts: 0, total_completion_tokens: 15, total_prompt_tokens: 33, total_tokens: 48 });
    for (const k of ['total_duration_seconds', 'avg_latency_seconds', 'avg_total_time', 'avg_time_to_first_token', 'throughput_tokens_per_second']) expect(typeof o.summary[k]).toBe('number');
    expect(o.summary.ttft_ms.count).toBe(3);
    expect(o.summary.gpu_energy_wh).toBeNull();
    // Goodput from the --slo flags: every TTFT is far under 60 s, no E2E is under 1 µs.
    expect(o.summary.goodput).toMatchObject({ slo: { ttft_ms: 60000, tpot_ms: null, e2e_ms: 0.001 }, requests_meeting_slo: 0, missed: { ttft: 0, e2e: 3 } });
    const t = await readCsvFile(join(out, 'master_results.csv'));
    expect(t.rows).toHaveLength(1);
    expect(t.rows[0]![MASTER_COLUMNS.indexOf('avg_time_to_first_token')]).toMatch(/^\d+\.\d{4,}$/);
    expect(t.rows[0]![MASTER_COLUMNS.indexOf('gpu_energy_wh')]).toBe('');
    // Beside the client's figures: the server's histogram delta over the measured phase
    // (3 requests at 50 ms each) and the client's own calibrated floor.
    const report = JSON.parse(await readFile(o.files.report, 'utf8'));
    expect(report.server_metrics.reset).toBe(false);
    expect(report.server_metrics.summary.ttft.count).toBe(3);
    expect(report.server_metrics.summary.ttft.meanMs).toBeCloseTo(50, 6);
    expect(report.client_calibration.requests).toBe(50);
    expect(report.client_calibration.socketThread).toMatch(/^(worker|main)$/);
    expect(report.client_calibration.clientAddedTtftMs.p50).toBeGreaterThanOrEqual(0);

    const rep = await aeb('report', out);
    expect(rep.code).toBe(0);
    expect(rep.stdout).toMatch(/prompts: 3\/3 succeeded, 0 failed/);
    expect(rep.stdout).toMatch(/master_results.csv: 1 row/);
    const foreign = join(work, 'foreign-run');
    await mkdir(foreign, { recursive: true });
    await writeFile(join(foreign, 'report.json'), '{"hello": 1}');
    const bad = await aeb('report', foreign);
    expect(bad.code).toBe(EXIT.RESULTS_FILE);
    expect(bad.stderr).toMatch(/report\.json is not an aeb run report/);
  });

  it('a server that sends no usage: --tokenizer DIR counts the tokens, labelled as a tokenizer count', async () => {
    const words = ['Hello', ' there', ',', ' friend', '.'];
    const bare = await startOpenAIEmulator({
      respond: () => ({ steps: buildStream({ tokens: words, continuousUsage: false, finalUsage: false }).steps }),
    });
    try {
      const out = join(work, 'tokenizer-out');
      const r = await aeb('run', '--backend', 'vllm', '--endpoint', `${bare.url}/v1`, '--model', 'emulated-model', '--num-prompts', '2',
        '--warmup', '0', '--no-energy', '--json', '--output-dir', out, '--tokenizer', QWEN3_DIR);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const o = JSON.parse(r.stdout.trim());
      const perRequest = (await loadTextPipeline(QWEN3_DIR)).tokenizer.encode(words.join('')).length;
      expect(o.summary.total_completion_tokens).toBe(2 * perRequest);
      const records = (await readFile(o.files.records, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(records.map((x) => x.token_count_source ?? x.tokenCountSource)).toEqual(['tokenizer', 'tokenizer']);
    } finally {
      await bare.close();
    }
  });

  it('Ctrl-C on `aeb run` against a slow server: exit 130 within 2 s, finished requests kept', async () => {
    const slow = await startOpenAIEmulator({
      respond: () => ({ steps: buildStream({ tokens: Array.from({ length: 10 }, (_, i) => ` t${i}`), firstTokenDelayMs: 20, interChunkDelayMs: 40 }).steps }),
    });
    try {
      const out = join(work, 'sigint-out');
      let signalledAt = 0;
      const r = await node([join(dist, 'cli/main.js'), 'run', '--backend', 'vllm', '--endpoint', `${slow.url}/v1`, '--model', 'emulated-model',
        '--num-prompts', '20', '--warmup', '0', '--no-energy', '--json', '--output-dir', out], {
        onSpawn: (c) => {
          whenRecordsWritten(out, 2, () => {
            signalledAt = Date.now();
            c.kill('SIGINT');
          });
        },
      });
      expect(signalledAt).toBeGreaterThan(0);
      expect(r.code).toBe(EXIT.INTERRUPTED);
      expect(Date.now() - signalledAt).toBeLessThan(2000);
      const o = JSON.parse(r.stdout.trim());
      expect(o.status).toBe('interrupted');
      const lines = (await readFile(o.files.records, 'utf8')).trim().split('\n');
      expect(lines.length).toBe(o.summary.total_prompts);
      // Sequential: the one request in flight at the signal is kept, failed.
      expect(o.summary.successful_prompts).toBe(o.summary.total_prompts - 1);
      expect(o.summary.failure_reasons).toEqual({ 'cancelled by interrupt': 1 });
      expect(o.summary.total_prompts).toBeLessThan(20);
      const t = await readCsvFile(join(out, 'master_results.csv'));
      expect(t.rows[0]![MASTER_COLUMNS.indexOf('stop_reason')]).toBe('interrupted');
    } finally {
      await slow.close();
    }
  });

  it('bad configuration values exit 2 with a message naming the key', async () => {
    const r = await aeb('run', 'backend.type=vllm', 'load.mode=bursty', '--quiet');
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/load\.mode: "bursty" is not allowed; allowed values: sequential, concurrency, rate/);
    const missing = await aeb('run', 'backend.type=vllm', '--quiet');
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/backend\.endpoint is required for backend type vllm/);
    const old = await aeb('run', join(FIX, 'configs/gpt_oss_120b_vllm.yaml'), 'backend.endpoint=ftp://host/v1');
    expect(old.code).toBe(EXIT.USAGE);
    expect(old.stderr).toMatch(/backend\.endpoint/);
  });

  it('aeb migrate-csv migrates old files, is idempotent and refuses corrupted ones with exit 5', async () => {
    const file = join(work, 'master_results.csv');
    await copyFile(join(FIX, 'master_results_pre_rename.csv'), file);
    const first = await aeb('migrate-csv', file);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/migrated 4 rows from 20 to \d+ columns; backup /);
    const second = await aeb('migrate-csv', file, '--json');
    expect(JSON.parse(second.stdout).status).toBe('already-current');
    const bad = join(work, 'corrupt.csv');
    await copyFile(join(FIX, 'master_results_corrupt.csv'), bad);
    const refused = await aeb('migrate-csv', bad);
    expect(refused.code).toBe(EXIT.RESULTS_FILE);
    expect(refused.stderr).toMatch(/corrupt\.csv: not a well-formed CSV file/);
  });

  it('aeb batch --dry-run prints the plan; unknown commands exit 2', async () => {
    const r = await aeb('batch', '--models', join(FIX, 'models.csv'), '--dry-run', '--model-name', 'gpt-oss');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 planned run\(s\)/);
    expect(r.stdout).toMatch(/openai\/gpt-oss-20b \[On \(High\)\] .*format=harmony .*max_new_tokens=8192/);
    expect((await aeb('frobnicate')).code).toBe(EXIT.USAGE);
    const out = join(work, 'batch-old');
    await mkdir(out, { recursive: true });
    await copyFile(join(FIX, 'master_results_pre_rename.csv'), join(out, 'master_results.csv'));
    const old = await aeb('batch', '--models', join(FIX, 'models.csv'), '--model-name', 'qwen3', '--output-dir', out, '--quiet');
    expect(old.code).toBe(EXIT.RESULTS_FILE);
    expect(old.stderr).toMatch(/older column layout .* run `aeb migrate-csv /);
  });
});
