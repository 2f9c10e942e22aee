// `aeb generate` and `aeb convert llama2c`: the command functions directly, and the built CLI
// (dist/cli/main.js, present after `npm test`'s tsc step) end to end.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConvertLlama2c } from '../../src/cli/commands/convert.js';
import { parseIdList, runGenerate } from '../../src/cli/commands/generate.js';
import { CliError } from '../../src/cli/errors.js';
import { makeFixtures, REPO_ROOT, SKIP_NATIVE, STORIES_BIN, storiesReference, type FixtureDirs } from './helpers/fixtures.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
// `npm test` compiles dist/ first (pretest), so CI always has it; a bare `vitest run` on a tree
// that was never built skips this one case instead of failing on a missing file.

describe('parseIdList', () => {
  it('parses comma-separated ids and names the bad part', () => {
    expect(parseIdList('1, 2,3')).toEqual([1, 2, 3]);
    expect(() => parseIdList('1,,2')).toThrow(/comma-separated/);
    expect(() => parseIdList('1,-2')).toThrow(/"-2" in "1,-2" is not a non-negative integer token id/);
  });
});

describe.skipIf(SKIP_NATIVE)('aeb generate / aeb convert', () => {
  let fx: FixtureDirs;
  beforeAll(async () => {
    fx = await makeFixtures();
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('runGenerate reports ids and timings consistent with each other', async () => {
    const ref = storiesReference()[0]!;
    const r = await runGenerate({ model: fx.stories, promptIds: ref.prompt_ids, maxNewTokens: 20, stopIds: [1], threads: 1 });
    expect(r.generated_ids).toEqual(ref.generated_ids.slice(0, 20));
    expect(r.token_times_ms).toHaveLength(20);
    expect(r.ttft_ms).toBe(r.token_times_ms[0]);
    expect(r.prefill_ms).toBeLessThanOrEqual(r.ttft_ms!);
    expect(r.total_ms).toBeGreaterThanOrEqual(r.token_times_ms[19]!);
    expect(r.tokens_per_second).toBeCloseTo(19 / ((r.token_times_ms[19]! - r.token_times_ms[0]!) / 1000), 3);
    expect(r).toMatchObject({ device: 'cpu', dtype: 'f32', threads: 1, stop_reason: 'max_new_tokens', prompt_tokens: 1 });
  });

  it('runGenerate turns engine failures into CLI errors carrying the engine code', async () => {
    // A directory without config.json: the engine itself refuses it.
    const empty = join(fx.root, 'empty-model');
    await mkdir(empty, { recursive: true });
    const err = await runGenerate({ model: empty, promptIds: [1] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toMatch(/^FILE_NOT_FOUND: .*config\.json/);
    // A path that does not exist is caught before the engine, naming what the engine loads.
    const missing = await runGenerate({ model: join(fx.root, 'missing'), promptIds: [1] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CliError);
    expect((missing as CliError).message).toContain('does not exist');
    expect((err as CliError).exitCode).toBe(3);
  });

  it('runGenerate names its flags, not the engine API\'s option names, in usage errors', async () => {
    const topP = await runGenerate({ model: fx.stories, promptIds: [1], topP: 1.5, threads: 1 }).catch((e: unknown) => e);
    expect(topP).toMatchObject({ exitCode: 2 });
    expect((topP as CliError).message).toMatch(/^--top-p /);
    const stop = await runGenerate({ model: fx.stories, promptIds: [1], stopIds: [1, -4], threads: 1 }).catch((e: unknown) => e);
    expect((stop as CliError).message).toMatch(/^--stop-ids \(entry 2\) /);
  });

  it('runGenerate: exactly one of --prompt and --prompt-ids; --prompt on a model without a tokenizer names the way out', async () => {
    const usage = async (opts: Parameters<typeof runGenerate>[0], message: RegExp) => {
      const err = await runGenerate(opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as CliError).message).toMatch(message);
    };
    await usage({ model: fx.stories }, /exactly one of --prompt TEXT and --prompt-ids/);
    await usage({ model: fx.stories, prompt: 'Once', promptIds: [1] }, /exactly one of/);
    await usage({ model: fx.stories, promptIds: [1], raw: true }, /--raw applies to --prompt TEXT only/);
    await usage({ model: fx.stories, prompt: '' }, /--prompt is empty/);
    await usage({ model: fx.stories, prompt: 'Once' }, /--prompt needs the model's tokenizer \(tokenizer.json beside the checkpoint\).*--prompt-ids instead/);
    await usage({ model: fx.stories, promptIds: [1, 2], maxNewTokens: 100, maxSeqLen: 64, threads: 1 },
      /^the prompt \(2 tokens\) and --max-new-tokens 100 need 101 positions but the KV cache holds 64: raise --max-seq-len/);
    expect((await runGenerate({ model: fx.stories, promptIds: [1, 2], maxNewTokens: 62, maxSeqLen: 64, stopIds: [], threads: 1 })).generated_ids).toHaveLength(62);
    // Ids on a model without a tokenizer: no text, no error.
    const r = await runGenerate({ model: fx.stories, promptIds: [1], maxNewTokens: 2, threads: 1 });
    expect(r.text).toBeUndefined();
  });

  it('runConvertLlama2c converts and rejects a non-checkpoint as a usage error', async () => {
    const out = join(fx.root, 'converted');
    const text = await runConvertLlama2c(STORIES_BIN, out);
    expect(text).toContain('260,032 parameters');
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ hidden_size: 64, num_hidden_layers: 5 });
    const err = await runConvertLlama2c(join(out, 'config.json'), join(fx.root, 'x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    // A directory as input is named as the input's problem, not the output's.
    const dirIn = await runConvertLlama2c(out, join(fx.root, 'y')).catch((e: unknown) => e);
    expect(dirIn).toMatchObject({ exitCode: 2, message: `${out}: not a regular file (a directory)` });
  });

  it.skipIf(!existsSync(CLI))('the built CLI prints one JSON object with the timings', () => {
    const r = spawnSync(process.execPath, [CLI, 'generate', '--model', fx.stories, '--prompt-ids', '1', '--max-new-tokens', '6', '--threads', '1', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out.generated_ids).toEqual(storiesReference()[0]!.generated_ids.slice(0, 6));
    for (const k of ['ttft_ms', 'prefill_ms', 'total_ms', 'tokens_per_second']) expect(typeof out[k]).toBe('number');
    expect(out.token_times_ms).toHaveLength(6);
    const bad = spawnSync(process.execPath, [CLI, 'generate', '--model', fx.stories, '--prompt-ids', '1,600'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--prompt-ids value 600 is outside the vocabulary [0, 511]');
  });
});
