// Results files under hostile conditions: secrets in the config, a full disk (a real file size
// limit set on this process with prlimit: writes fail with EFBIG as they would with ENOSPC),
// debris lock files, a master CSV with a broken last row, and damaged run reports.
import { spawn, spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RequestRecord } from '../../src/backends/types.js';
import { register as registerReport } from '../../src/cli/commands/report.js';
import { CliError, EXIT } from '../../src/cli/errors.js';
import { applyOverrides, parseOverride } from '../../src/config/overrides.js';
import { configSchema } from '../../src/config/schema.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';
import { csvRecords, readCsvFile } from '../../src/results/csv-file.js';
import { ResultsFileError } from '../../src/results/errors.js';
import { LockTimeoutError, withFileLock } from '../../src/results/lock.js';
import { appendMasterRow, assertAppendable, buildMasterRow } from '../../src/results/master-csv.js';
import { isSecretKey } from '../../src/results/redact.js';
import { buildRunReport, writeRunCsv, writeRunReport, type RunReport } from '../../src/results/run-files.js';
import { buildSummary } from '../../src/runner/summary.js';

// The full-disk cases need util-linux's prlimit (on every Debian/Ubuntu, so in CI); a machine
// without it skips them rather than faking a full disk some other way.
const HAS_PRLIMIT = spawnSync('prlimit', ['--version']).status === 0;

/** Runs `f` with this process's file size limit set to `bytes` (a full disk, as far as writes go). */
async function withFileSizeLimit<T>(bytes: number, f: () => Promise<T>): Promise<T> {
  const set = (limit: string) => {
    const r = spawnSync('prlimit', ['--pid', String(process.pid), `--fsize=${limit}`]);
    if (r.status !== 0) throw new Error(`prlimit failed: ${r.stderr}`);
  };
  set(`${bytes}:unlimited`);
  try {
    return await f();
  } finally {
    set('unlimited:unlimited');
  }
}

function rec(i: number, endS: number): RequestRecord {
  return {
    index: i, success: true, startNs: 0n, endNs: BigInt(endS * 1e9), queueMs: 0, ttftMs: 200, ttfoMs: 200, ttstMs: null, e2eMs: endS * 1000,
    tpotMs: 20, itlMs: [], iclMs: [], promptTokens: 10, completionTokens: 5, tokenCountSource: 'usage', text: '',
  };
}

const summary = () => buildSummary({
  records: [rec(0, 1), rec(1, 2)], plannedPrompts: 2, warmupRequests: 0, durationSeconds: 3, stopReason: null, cancelledInFlight: 0,
  energy: null, idle: null, emissions: null,
});

const id = { modelName: 'm', timestamp: '2026-01-01T00:00:00.000Z', runId: 'r1', backend: 'openai', device: null };

function report(runId: string, config: unknown = {}, warnings: string[] = []): RunReport {
  return buildRunReport({
    run_id: runId, config, environment: {}, backend: null, load: null, summary: summary(), client_calibration: null, server_metrics: null,
    warnings, started_at: '', finished_at: '', files: {},
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-robust-'));
});

describe('secrets in run files', () => {
  it('redacts the API key (and other credentials) in report.json, keeps null and token settings, and leaves the run config alone', async () => {
    const base = configSchema.parse({ backend: { type: 'openai', endpoint: 'http://127.0.0.1:9/v1', model: 'm' } });
    const config = configSchema.parse(applyOverrides(base as unknown as Record<string, unknown>, [parseOverride('backend.api_key=sk-SECRET123')]));
    const extra = { hf_token: 'hf_abc', auth: { clientSecret: 'cs', password: 'pw', 'x-api-key': 'k2' }, url: 'http://user:pa55@127.0.0.1:9/v1' };
    const before = structuredClone(config);
    const file = join(dir, 'report.json');
    await writeRunReport(file, report('r1', { ...config, extra }));
    const text = await readFile(file, 'utf8');
    for (const secret of ['sk-SECRET123', 'hf_abc', '"cs"', '"pw"', 'k2', 'pa55']) expect(text).not.toContain(secret);
    const json = JSON.parse(text);
    expect(json.config.backend.api_key).toBe('<redacted>');
    expect(json.config.extra).toEqual({ hf_token: '<redacted>', auth: { clientSecret: '<redacted>', password: '<redacted>', 'x-api-key': '<redacted>' },
      url: 'http://user:<redacted>@127.0.0.1:9/v1' });
    // Not credentials: settings and counts about tokens, and an unset key.
    expect(json.config.scenario.generate_kwargs.max_new_tokens).toBe(config.scenario.generate_kwargs.max_new_tokens);
    expect(json.config.backend.tokenizer).toBeNull();
    expect(json.summary.token_count_sources).toEqual(JSON.parse(JSON.stringify(summary().token_count_sources)));
    expect(json.summary.total_tokens).toBe(30);
    expect(json.summary.avg_time_to_first_token).toBe(0.2); // measurements are never redacted
    expect(config).toEqual(before);
    expect(config.backend.api_key).toBe('sk-SECRET123');

    const unset = join(dir, 'unset.json');
    await writeRunReport(unset, report('r2', base));
    expect(JSON.parse(await readFile(unset, 'utf8')).config.backend.api_key).toBeNull();
  });

  it('tells credential keys from token settings', () => {
    for (const k of ['api_key', 'apiKey', 'API_KEY', 'openai_api_key', 'token', 'hf_token', 'accessToken', 'client_secret', 'password', 'db-password', 'Authorization'])
      expect([k, isSecretKey(k)]).toEqual([k, true]);
    for (const k of ['max_new_tokens', 'max_prompt_tokens', 'tokenizer', 'total_tokens', 'token_count_sources', 'tokens_per_joule', 'avg_time_to_first_token',
      'eos_token', 'key', 'model'])
      expect([k, isSecretKey(k)]).toEqual([k, false]);
  });
});

describe('whole run files are replaced durably', () => {
  it.skipIf(!HAS_PRLIMIT)('a full disk leaves the previous report.json whole and no partial file, and the error names the path', async () => {
    const file = join(dir, 'report.json');
    await writeRunReport(file, report('old'));
    const old = await readFile(file, 'utf8');
    const big = report('new', {}, Array.from({ length: 200 }, (_, i) => `warning ${i} `.repeat(8)));
    const err = await withFileSizeLimit(4096, () => writeRunReport(file, big)).then(() => null, (e: unknown) => e as NodeJS.ErrnoException);
    expect(await readFile(file, 'utf8')).toBe(old);
    expect(await readdir(dir)).toEqual(['report.json']);
    expect(err).toBeInstanceOf(ResultsFileError);
    expect(err!.message).toContain(file);
    expect(err!.code).toBe('EFBIG');
    await writeRunReport(file, big); // room again: written in full
    expect(JSON.parse(await readFile(file, 'utf8')).warnings).toHaveLength(200);
  });

  it('removes its partial file when the final rename fails, naming the path', async () => {
    const file = join(dir, 'results.csv');
    await mkdir(join(file, 'in-the-way'), { recursive: true }); // a non-empty directory where the file goes
    const row = buildMasterRow(id, summary());
    await expect(writeRunCsv(file, row)).rejects.toSatisfy((e: Error) => e instanceof ResultsFileError && e.message.includes(file));
    expect(await readdir(dir)).toEqual(['results.csv']);
    expect((await stat(file)).isDirectory()).toBe(true);
  });

  it('replaces a file in place: a symlink stays a symlink, the mode is kept', async () => {
    const target = join(dir, 'real.csv');
    await writeFile(target, 'old\n');
    await chmod(target, 0o640);
    const link = join(dir, 'results.csv');
    await symlink(target, link);
    await writeRunCsv(link, buildMasterRow(id, summary()));
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    expect((await readCsvFile(target)).header).toEqual(MASTER_COLUMNS);
  });

  it.skipIf(!HAS_PRLIMIT)('a master row that does not fit is cut back off: the file keeps only whole rows', async () => {
    const file = join(dir, 'master_results.csv');
    await appendMasterRow(file, buildMasterRow(id, summary()));
    const before = await readFile(file, 'utf8');
    const err = await withFileSizeLimit(before.length + 40, () => appendMasterRow(file, buildMasterRow({ ...id, runId: 'r2' }, summary())))
      .then(() => null, (e: unknown) => e as NodeJS.ErrnoException);
    expect(err?.code).toBe('EFBIG');
    expect(await readFile(file, 'utf8')).toBe(before);
    await appendMasterRow(file, buildMasterRow({ ...id, runId: 'r3' }, summary()));
    expect((await readCsvFile(file)).rows.map((r) => r[MASTER_COLUMNS.indexOf('run_id')])).toEqual(['r1', 'r3']);
  });
});

describe('lock file debris', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });

  it('breaks an empty lock file at once', async () => {
    const file = join(dir, 'master_results.csv');
    await writeFile(`${file}.lock`, '');
    const t0 = Date.now();
    await expect(withFileLock(file, async () => 'ran', { timeoutMs: 3000 })).resolves.toBe('ran');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await readdir(dir)).toEqual([]);
  });

  it('breaks a fresh lock naming a pid that has exited, keeps one held by a running process', async () => {
    const file = join(dir, 'master_results.csv');
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.on('exit', r));
    await writeFile(`${file}.lock`, `${gone.pid}\n${new Date().toISOString()}\n`);
    await expect(withFileLock(file, async () => 'ran', { timeoutMs: 3000 })).resolves.toBe('ran');

    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    children.push(live);
    await new Promise((r) => live.on('spawn', r));
    await writeFile(`${file}.lock`, `${live.pid}\n${new Date().toISOString()}\n`);
    await expect(withFileLock(file, async () => 'ran', { timeoutMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(await readFile(`${file}.lock`, 'utf8')).toMatch(new RegExp(`^${live.pid}\n`));
  });

  it.skipIf(!HAS_PRLIMIT)('a lock that cannot be written leaves no lock file behind, and the next writer gets the lock at once', async () => {
    const file = join(dir, 'master_results.csv');
    const err = await withFileSizeLimit(0, () => withFileLock(file, async () => 'ran')).then(() => null, (e: unknown) => e as Error);
    expect(await readdir(dir)).toEqual([]);
    expect(err).toBeInstanceOf(ResultsFileError);
    expect(err!.message).toContain(`${file}.lock`);
    const t0 = Date.now();
    await appendMasterRow(file, buildMasterRow(id, summary()));
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await readCsvFile(file)).rows).toHaveLength(1);
  });
});

describe('a master CSV whose last row never closes its quote', () => {
  it('is refused with the file and the line named, and left untouched', async () => {
    const file = join(dir, 'master_results.csv');
    const broken = csvRecords([MASTER_COLUMNS, ['ok', ...MASTER_COLUMNS.slice(1).map(() => '')]]) + 'model,"half written\n';
    await writeFile(file, broken);
    for (const attempt of [() => appendMasterRow(file, buildMasterRow(id, summary())), () => assertAppendable(file)]) {
      const err = await attempt().then(() => null, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(ResultsFileError);
      expect(err!.message).toContain(file);
      expect(err!.message).toMatch(/quoted field opened on line 3 that is never closed/);
    }
    expect(await readFile(file, 'utf8')).toBe(broken);
  });

  it('still appends after well-formed quoted fields (escaped quotes, newlines inside a field)', async () => {
    const file = join(dir, 'master_results.csv');
    await appendMasterRow(file, buildMasterRow({ ...id, modelName: 'a "quoted"\nname, with ""' }, summary()));
    await appendMasterRow(file, buildMasterRow({ ...id, runId: 'r2' }, summary()));
    const t = await readCsvFile(file);
    expect(t.rows.map((r) => r[0])).toEqual(['a "quoted"\nname, with ""', 'm']);
  });
});

describe('aeb report with damaged runs', () => {
  async function aebReport(...args: string[]): Promise<{ stdout: string; error: unknown }> {
    const program = new Command().exitOverride();
    registerReport(program);
    let stdout = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const error = await program.parseAsync(['node', 'aeb', 'report', ...args]).then(() => null, (e: unknown) => e);
      return { stdout, error };
    } finally {
      spy.mockRestore();
      warn.mockRestore();
    }
  }

  it('shows every readable run and the master CSV, then names each unreadable report with its reason (exit 5)', async () => {
    const runs = join(dir, 'individual_runs');
    await writeRunReport(join(runs, '1-good', 'report.json'), report('good-one', { backend: { api_key: 'sk-OLD' } }));
    await mkdir(join(runs, '2-truncated'));
    await writeFile(join(runs, '2-truncated', 'report.json'), (await readFile(join(runs, '1-good', 'report.json'), 'utf8')).slice(0, 100));
    await mkdir(join(runs, '3-foreign'));
    await writeFile(join(runs, '3-foreign', 'report.json'), '{"hello": 1}');
    await writeRunReport(join(runs, '4-good', 'report.json'), report('good-two'));
    await mkdir(join(runs, '5-in-progress'));
    await appendMasterRow(join(dir, 'master_results.csv'), buildMasterRow(id, summary()));

    const { stdout, error } = await aebReport(dir);
    expect(stdout).toMatch(/run good-one\n/);
    expect(stdout).toMatch(/run good-two\n/);
    expect(stdout).toMatch(/master_results\.csv: 1 row/);
    expect(error).toBeInstanceOf(CliError);
    const e = error as CliError;
    expect(e.exitCode).toBe(EXIT.RESULTS_FILE);
    expect(e.message).toMatch(/^2 results file\(s\) could not be read \(2 run report\(s\) shown\)/);
    expect(e.message).toContain(`${join(runs, '2-truncated', 'report.json')} is not a readable run report (`);
    expect(e.message).toContain(`${join(runs, '3-foreign', 'report.json')} is not an aeb run report (schema undefined`);
    expect(e.message).not.toContain('5-in-progress');

    const json = await aebReport(dir, '--json');
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((r) => r.run_id)).toEqual(['good-one', 'good-two']);
    expect(lines[0].config.backend.api_key).toBe('<redacted>'); // never echoed, even from an old report
    expect((json.error as CliError).exitCode).toBe(EXIT.RESULTS_FILE);
  });

  it('exits 0 when every report is readable, and reports an unreadable master CSV after the runs', async () => {
    await writeRunReport(join(dir, 'individual_runs', 'a', 'report.json'), report('only'));
    const ok = await aebReport(dir);
    expect(ok.error).toBeNull();
    expect(ok.stdout).toMatch(/run only\n/);

    await writeFile(join(dir, 'master_results.csv'), 'a,b\n"1,2\n');
    const bad = await aebReport(dir);
    expect(bad.stdout).toMatch(/run only\n/);
    expect((bad.error as CliError).exitCode).toBe(EXIT.RESULTS_FILE);
    expect((bad.error as CliError).message).toContain(`${join(dir, 'master_results.csv')}: not a well-formed CSV file`);
  });
});
