// Child-process tests of the built CLI (dist/, from `npx tsc` as `npm test` runs it first) for
// what a user sees: messages, exit codes, warnings, a closed stdout, what --json lists.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStream } from '../../src/backends/openai/emulator-script.js';
import { startOpenAIEmulator, type OpenAIEmulator } from '../../src/backends/openai/emulator.js';
import { EXIT } from '../../src/cli/errors.js';
import { readCsvFile } from '../../src/results/csv-file.js';

const ROOT = join(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const FIX = join(ROOT, 'test/fixtures/old-system');
/** A stack trace line ("    at fn (file:line)"). */
const STACK = /\n\s+at /;
let work: string;

interface Result { code: number | null; stdout: string; stderr: string }

/** Runs `aeb`; `closeStdout`/`closeStderr` close the reading end of that pipe at once (a reader that went away). */
function aeb(args: string[], opts: { closeStdout?: boolean; closeStderr?: boolean } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: work, env: { ...process.env, XDG_CACHE_HOME: join(work, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (opts.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d) => (stdout += d));
    if (opts.closeStderr) child.stderr.destroy();
    else child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let emu: OpenAIEmulator;
/** What the emulator does with the next requests: answer, or fail with HTTP 500. */
let answer: (n: number) => boolean = () => true;
let served = 0;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build with \`npx tsc -p ${ROOT}\` first (npm test does)`);
  work = await mkdtemp(join(tmpdir(), 'aeb-cli-use-'));
  emu = await startOpenAIEmulator({
    keepLog: false,
    respond: () => {
      const n = served++;
      if (answer(n)) return { steps: buildStream({ tokens: ['Hi', ' there'], promptTokens: 4 }).steps };
      return { status: 500, headers: { 'content-type': 'application/json' }, steps: [{ write: '{"error":{"message":"boom"}}' }] };
    },
  });
});

afterAll(async () => {
  await emu?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const server = () => ['--endpoint', `${emu.url}/v1`, '--model', 'emulated-model', '--no-energy', '--warmup', '0'];

describe('results directory', () => {
  it('an --output-dir that is a plain file exits 5 naming the path and the problem, before any prompt runs, without a stack trace', async () => {
    const file = join(work, 'afile');
    await writeFile(file, 'x');
    const before = served;
    const r = await aeb(['run', ...server(), '--num-prompts', '1', '--output-dir', file]);
    expect(r.code).toBe(EXIT.RESULTS_FILE);
    expect(r.stderr).toContain(`error: results directory ${file} cannot be created: ${file} is a file, not a directory`);
    expect(r.stderr).not.toMatch(STACK);
    expect(served).toBe(before);
  });

  // Node 20's own recursive mkdir never returns for a path under /proc (ENOENT it retries).
  it.skipIf(process.platform !== 'linux')('an --output-dir that can never be created (under /proc) exits 5 promptly instead of spinning', async () => {
    const before = served;
    const r = await aeb(['run', ...server(), '--num-prompts', '1', '--output-dir', '/proc/aeb-nope/results']);
    expect(r.code).toBe(EXIT.RESULTS_FILE);
    expect(r.stderr).toContain('error: results directory /proc/aeb-nope/results cannot be created: ENOENT');
    expect(served).toBe(before);
  });
});

describe('server backend from --endpoint', () => {
  it('run --endpoint without --backend benchmarks the server; --json lists only files that exist', async () => {
    answer = () => true;
    const out = join(work, 'inferred');
    const r = await aeb(['run', ...server(), '--num-prompts', '2', '--json', '--output-dir', out]);
    expect(r.stderr).not.toMatch(/ENOENT|internal error/);
    expect(r.code).toBe(EXIT.OK);
    const o = JSON.parse(r.stdout);
    expect(o.backend.backend).toMatch(/openai|vllm/);
    expect(o.files.telemetry).toBeUndefined();
    for (const [k, p] of Object.entries(o.files as Record<string, string>)) if (k !== 'dir') expect((await stat(p)).isFile(), k).toBe(true);
  });

  it('--backend native with --endpoint exits 2 naming both', async () => {
    const r = await aeb(['run', '--backend', 'native', '--endpoint', `${emu.url}/v1`, '--model', 'm']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/--backend native .*--endpoint http:\/\/127\.0\.0\.1:\d+\/v1/);
  });

  it('a run that fails to start lists no report.json or results.csv', async () => {
    const down = await startOpenAIEmulator({ respond: () => ({ steps: [] }) });
    const url = `${down.url}/v1`;
    await down.close();
    const r = await aeb(['run', '--endpoint', url, '--model', 'm', '--no-energy', '--num-prompts', '1', '--json', '--output-dir', join(work, 'down')]);
    expect(r.code).toBe(EXIT.RUN_FAILED);
    const o = JSON.parse(r.stdout);
    expect(o.status).toBe('failed');
    expect(o.files.report).toBeUndefined();
    expect(o.files.csv).toBeUndefined();
    expect(o.files.telemetry).toBeUndefined();
  });
});

describe('run header', () => {
  it('says "failed" when every request failed and "stopped early" after consecutive failures, not "completed"', async () => {
    answer = () => false;
    const all = await aeb(['run', ...server(), '--num-prompts', '2', '--output-dir', join(work, 'allfail'), '--quiet']);
    expect(all.code).toBe(EXIT.PARTIAL);
    expect(all.stdout).toMatch(/^run \S+ \(failed\)$/m);
    const start = served;
    answer = (n) => n - start === 0; // the first request succeeds, every later one fails
    const early = await aeb(['run', ...server(), '--num-prompts', '6', '--max-consecutive-failures', '2', '--output-dir', join(work, 'early'), '--quiet']);
    expect(early.code).toBe(EXIT.PARTIAL);
    expect(early.stdout).toMatch(/^run \S+ \(stopped early\)$/m);
    answer = () => true;
  });
});

describe('closed stdout', () => {
  it('report and batch --dry-run --json end quietly when the reader of stdout has gone', async () => {
    const out = join(work, 'piped');
    expect((await aeb(['run', ...server(), '--num-prompts', '1', '--output-dir', out, '--quiet'])).code).toBe(EXIT.OK);
    const rep = await aeb(['report', out], { closeStdout: true });
    expect(rep.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(rep.stderr).not.toMatch(STACK);
    expect(rep.code).toBe(EXIT.OK);
    const dry = await aeb(['batch', '--models', join(FIX, 'models.csv'), '--dry-run', '--json'], { closeStdout: true });
    expect(dry.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(dry.code).toBe(EXIT.OK);
  });

  it('migrate-csv --json with a closed stdout still migrates every file and leaves no lock behind', async () => {
    const dir = join(work, 'migrate-piped');
    await mkdir(dir, { recursive: true });
    const files = [1, 2, 3, 4, 5, 6].map((i) => join(dir, `m${i}.csv`));
    for (const f of files) await copyFile(join(FIX, 'master_results_pre_rename.csv'), f);
    const r = await aeb(['migrate-csv', '--json', ...files], { closeStdout: true });
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.code).toBe(EXIT.OK);
    for (const f of files) {
      const t = await readCsvFile(f);
      expect(t.header).toContain('avg_time_to_first_token');
    }
    const left = await import('node:fs/promises').then((fs) => fs.readdir(dir));
    expect(left.filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it.each([
    ['stdout', { closeStdout: true }],
    ['stdout and stderr', { closeStdout: true, closeStderr: true }],
  ])('a measuring run with a closed %s still writes every results file', async (what, closed) => {
    const out = join(work, `closed-${what.replace(/ /g, '-')}`);
    const r = await aeb(['run', ...server(), '--num-prompts', '2', '--json', '--output-dir', out], closed);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.code).toBe(EXIT.OK);
    const t = await readCsvFile(join(out, 'master_results.csv'));
    expect(t.rows).toHaveLength(1);
    const runs = await import('node:fs/promises').then((fs) => fs.readdir(join(out, 'individual_runs')));
    const report = JSON.parse(await readFile(join(out, 'individual_runs', runs[0]!, 'report.json'), 'utf8'));
    expect(report.summary.successful_prompts).toBe(2);
  });
});

describe('native backend messages', () => {
  it('a model path that does not exist exits 3 saying what the native backend loads and how to benchmark a served model', async () => {
    const r = await aeb(['run', '--model', 'Qwen/Qwen3-0.6B', '--no-energy', '--num-prompts', '1', '--output-dir', join(work, 'nomodel')]);
    expect(r.code).toBe(EXIT.RUN_FAILED);
    expect(r.stderr).toContain('model Qwen/Qwen3-0.6B does not exist. The native backend loads a local checkpoint directory (config.json + *.safetensors) or a TorchScript .pt file; to benchmark a served model use --backend vllm --endpoint URL');
    expect(r.stderr).not.toMatch(/ENOENT/);
  });

  it('--concurrency > 1 on the native engine warns once, up front', async () => {
    const r = await aeb(['run', '--model', join(work, 'missing-model'), '--concurrency', '4', '--no-energy', '--num-prompts', '1', '--output-dir', join(work, 'conc')]);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('one generation at a time'));
    expect(warnings).toHaveLength(1);
    expect(r.stderr.indexOf('one generation at a time')).toBeLessThan(r.stderr.indexOf('does not exist'));
  });

  it('generate accepts the dtype spellings run accepts', async () => {
    // Past option parsing (exit 2 before the fix), to the model check.
    const r = await aeb(['generate', '--model', join(work, 'missing-model'), '--prompt-ids', '1', '--dtype', 'bfloat16']);
    expect(r.stderr).not.toMatch(/argument 'bfloat16' is invalid/);
    expect(r.code).toBe(EXIT.RUN_FAILED);
    expect(r.stderr).toMatch(/missing-model does not exist/);
  });
});

it('aeb --version prints the version of package.json', async () => {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const r = await aeb(['--version']);
  expect(r.code).toBe(EXIT.OK);
  expect(r.stdout.trim()).toBe(version);
});
