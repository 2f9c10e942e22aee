// `aeb run --model file.pt`: a TorchScript export of the built-in default model (KV-cache
// shape) whose sidecar names the tokenizer directory runs end to end through the CLI, text in,
// timings out — the path a user takes with their own torch.jit.save file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureDefaultModel } from '../../src/models/default-model.js';
import { llamaParameters, llamaShapeFromConfig, llamaSource, torchScriptAddon } from './helpers/torchscript-fixtures.js';
import { SKIP_NATIVE } from './helpers/fixtures.js';

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

describe.skipIf(SKIP_NATIVE)('aeb run with a TorchScript file', () => {
  let root: string;
  let file: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'aeb-ts-cli-'));
    const modelDir = await ensureDefaultModel(join(root, 'cache'));
    const shape = llamaShapeFromConfig(modelDir);
    file = join(root, 'export', 'default.pt');
    mkdirSync(join(root, 'export'));
    torchScriptAddon().saveTorchScriptModule({ source: llamaSource(shape, 'kv-list'), parameters: llamaParameters(modelDir, shape), path: file });
    writeFileSync(`${file}.json`, JSON.stringify({ tokenizer_dir: modelDir, eos_token_id: 2, max_seq_len: 512, vocab_size: shape.vocab }));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it.skipIf(!existsSync(CLI))('generates from prompt text and writes the results', () => {
    const out = join(root, 'results');
    const r = spawnSync(process.execPath, [CLI, 'run', '--model', file, '--num-prompts', '2', '--max-new-tokens', '8', '--min-new-tokens', '8',
      '--warmup', '0', '--no-energy', '--threads', '1', '--json', '--output-dir', out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim());
    expect(o.status).toBe('completed');
    expect(o.summary).toMatchObject({ total_prompts: 2, successful_prompts: 2, total_completion_tokens: 16 });
    expect(o.summary.total_prompt_tokens).toBeGreaterThan(2);
    expect(o.summary.avg_time_to_first_token).toBeGreaterThan(0);
  });
});
