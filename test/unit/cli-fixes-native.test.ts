// `aeb batch` and `aeb run` in-process over the real native engine and the built-in default model
// (generated into a temporary cache; context 2048): a models CSV row naming a local checkpoint
// runs it, and a max_new_tokens beyond the context fails the run up front with a usage message.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { register as registerBatch } from '../../src/cli/commands/batch.js';
import { register as registerRun } from '../../src/cli/commands/run.js';
import { EXIT } from '../../src/cli/errors.js';
import { ensureDefaultModel } from '../../src/models/default-model.js';
import { readCsvFile } from '../../src/results/csv-file.js';
import { MASTER_COLUMNS } from '../../src/results/columns.js';

const ADDON = join(import.meta.dirname, '../../build/Release/aeb.node');
const SKIP = process.env.AEB_SKIP_NATIVE === '1' || !existsSync(ADDON);
const col = (name: string) => MASTER_COLUMNS.indexOf(name as (typeof MASTER_COLUMNS)[number]);

/** Runs one command in-process; returns what it logged on stderr and the exit code it set. */
async function aeb(register: (p: Command) => void, args: string[]): Promise<{ code: number | undefined; stderr: string }> {
  const err: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const program = new Command().exitOverride();
  register(program);
  try {
    await program.parseAsync(['node', 'aeb', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return { code: process.exitCode as number | undefined, stderr: err.join('') };
}

describe.skipIf(SKIP)('native engine: local checkpoints and the context limit', () => {
  let work: string;
  let model: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'aeb-cli-fixes-native-'));
    model = await ensureDefaultModel(join(work, 'cache'));
  });
  afterEach(() => {
    process.exitCode = undefined;
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('aeb batch runs a local checkpoint path; an On row (8192 new tokens) over a 2048 context fails up front and is counted as failed', async () => {
    const csv = join(work, 'models.csv');
    const out = join(work, 'batch');
    await writeFile(csv, ['Models to Add,Priority (1=hi),Class,Task,Reasoning State,Chat Template', `${model},1,A,text_generation,Off,`, `${model},1,A,text_generation,On,`].join('\n'));
    const r = await aeb(registerBatch, ['batch', '--models', csv, '--num-prompts', '2', '--output-dir', out, 'metrics.enabled=false', 'runner.warmup_requests=0']);
    expect(r.stderr).toContain(`batch: 2 run(s), 1 failed, 0 skipped; results in ${out}`);
    expect(r.code).toBe(EXIT.RUN_FAILED);
    const rows = (await readCsvFile(join(out, 'master_results.csv'))).rows;
    expect(rows.map((row) => [row[col('model_name')], row[col('reasoning_state')], row[col('successful_prompts')]])).toEqual([[model, 'Off', '2'], [model, 'On', '0']]);
    expect(rows[1]![col('error_message')]).toMatch(/^FAILED: .*max_new_tokens 8192 does not fit the model's context of 2048 positions.*backend\.max_seq_len/);
  });

  it('aeb run --max-new-tokens 8192 on a 2048-position model exits 2 before any request, naming the flags to change', async () => {
    const out = join(work, 'run');
    const r = await aeb(registerRun, ['run', '--model', model, '--max-new-tokens', '8192', '--num-prompts', '2', '--no-energy', '--output-dir', out]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/run failed: .*max_new_tokens 8192 does not fit the model's context of 2048 positions.*--max-new-tokens.*--max-seq-len/);
    expect(r.stderr).not.toMatch(/^prompt \d/m);
    const row = (await readCsvFile(join(out, 'master_results.csv'))).rows[0]!;
    expect(row[col('successful_prompts')]).toBe('0');
    expect(row[col('error_message')]).toMatch(/^FAILED: /);
  });
});
