import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { backendKind, ConfigError, loadConfig } from '../../src/config/load.js';
import { applyOverrides, looksLikeOverride, parseOverride } from '../../src/config/overrides.js';
import { generationSettingsOf, loadPlanOf } from '../../src/runner/pipeline.js';

const CONFIGS = join(import.meta.dirname, '../fixtures/old-system/configs');

it('loads the old vLLM example config with every section', async () => {
  const { config, warnings } = await loadConfig({ file: join(CONFIGS, 'gpt_oss_120b_vllm.yaml') });
  expect(warnings).toEqual([]);
  expect(backendKind(config)).toBe('openai');
  expect(config.backend.endpoint).toBe('http://localhost:8000/v1');
  expect(config.backend.device_ids).toEqual([0]);
  expect(config.scenario.reasoning).toBe(true);
  expect(config.scenario.reasoning_params).toEqual({ reasoning_effort: 'high' });
  expect(config.scenario.num_samples).toBe(10);
  expect(generationSettingsOf(config)).toMatchObject({ maxNewTokens: 8192, minNewTokens: 1 });
  expect(config.metrics).toMatchObject({ country_iso_code: 'USA', region: 'california', enabled: true });
  expect(config.reporter.output_file).toBe('./results/gpt_oss_120b_high.csv');
});

it('maps backend type pytorch to the native engine and accepts quoted booleans', async () => {
  const { config, warnings } = await loadConfig({ file: join(CONFIGS, 'hunyuan_pytorch.yaml') });
  expect(backendKind(config)).toBe('native');
  expect(warnings).toEqual(['backend.device_ids [0,1]: the native engine runs on one device, cuda:0 (energy is metered on that GPU only)']);
  expect(config.backend.torch_dtype).toBe('bfloat16');
  expect(config.scenario.reasoning).toBe(false);
  expect(generationSettingsOf(config)).toMatchObject({ maxNewTokens: 10, minNewTokens: 10 });
  const q = await loadConfig({ file: join(CONFIGS, 'qwen3_thinking_budget.yaml') });
  expect(q.config.scenario.reasoning).toBe(true);
  expect(q.config.backend.endpoint).toBe('http://localhost:8001/v1');
  expect(q.config.metrics.enabled).toBe(false);
});

it('parses a.b.c=value overrides to proper types', () => {
  expect(parseOverride('scenario.reasoning=false').value).toBe(false);
  expect(parseOverride('backend.device_ids=[0]').value).toEqual([0]);
  expect(parseOverride('scenario.num_samples=25').value).toBe(25);
  expect(parseOverride('backend.endpoint=http://localhost:8001/v1').value).toBe('http://localhost:8001/v1');
  expect(parseOverride('scenario.reasoning_params={reasoning_effort: low}').value).toEqual({ reasoning_effort: 'low' });
  expect(parseOverride('name=').value).toBe('');
  expect(parseOverride('+metrics.region=quebec').path).toEqual(['metrics', 'region']);
  expect(looksLikeOverride('a.b=1')).toBe(true);
  expect(looksLikeOverride('config.yaml')).toBe(false);
  expect(() => parseOverride('a..b=1')).toThrow(/not a valid key segment/);
  expect(() => applyOverrides({ name: 'x' }, [parseOverride('name.sub=1')])).toThrow(/name is not a map/);
});

it('accepts models-CSV reasoning states for scenario.reasoning', async () => {
  expect((await loadConfig({ overrides: ['scenario.reasoning=On (High)'] })).config.scenario.reasoning).toBe('On (High)');
  expect((await loadConfig({ overrides: ['scenario.reasoning=Off (N/A)'] })).config.scenario.reasoning).toBe('Off (N/A)');
});

it('applies overrides over the file; false is false', async () => {
  const { config } = await loadConfig({
    file: join(CONFIGS, 'gpt_oss_120b_vllm.yaml'),
    overrides: ['scenario.reasoning=false', 'backend.device_ids=[1,2]', 'load.mode=rate', 'load.rate=4.5', 'scenario.generate_kwargs.max_new_tokens=10'],
  });
  expect(config.scenario.reasoning).toBe(false);
  expect(config.backend.device_ids).toEqual([1, 2]);
  expect(loadPlanOf(config)).toMatchObject({ mode: 'rate', rate: 4.5, arrival: 'poisson' });
  expect(config.scenario.generate_kwargs.max_new_tokens).toBe(10);
});

async function problems(overrides: string[]): Promise<string[]> {
  try {
    await loadConfig({ overrides });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

it('names the key, the value and the allowed values in validation errors', async () => {
  expect(await problems(['backend.type=tensorrt'])).toEqual(['backend.type: "tensorrt" is not allowed; allowed values: native, pytorch, openai, vllm']);
  expect((await problems(['scenario.num_samples=-3']))[0]).toMatch(/^scenario\.num_samples: .*\(got -3\)/);
  expect((await problems(['backend.type=vllm']))).toEqual(expect.arrayContaining([expect.stringMatching(/^backend\.endpoint is required for backend type vllm/)]));
  expect((await problems(['load.mode=rate']))[0]).toMatch(/^load\.rate is required when load\.mode is rate/);
  expect((await problems(['scenario.reasoning_params={thinking_budget: lots}']))[0]).toMatch(/^scenario\.reasoning_params thinking_budget: "lots" is not a non-negative integer/);
  expect((await problems(['scenario.reasoning=maybe']))[0]).toMatch(/^scenario\.reasoning reasoning state "maybe" is not understood/);
  // Checked against the carbon-intensity table at load time, not after the run.
  expect((await problems(['metrics.country_iso_code=XYZ']))[0]).toMatch(/^metrics\.country_iso_code rejected: no grid carbon intensity for country code 'XYZ'/);
  expect((await problems(['metrics.country_iso_code=USA', 'metrics.region=atlantis']))[0]).toMatch(/^metrics\.region rejected: no grid carbon intensity for region 'atlantis'/);
  expect((await problems(['metrics.region=quebec']))[0]).toMatch(/^metrics\.region rejected: .*without a country/);
  expect((await loadConfig({ overrides: ['metrics.country_iso_code=US', 'metrics.region=CA'] })).config.metrics.country_iso_code).toBe('US');
  expect((await problems(['scenario.generate_kwargs.min_new_tokens=20', 'scenario.generate_kwargs.max_new_tokens=10']))[0]).toMatch(/min_new_tokens \(20\) must not exceed max_new_tokens \(10\)/);
});

it('warns about unknown keys instead of failing on them; rejects non-map files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aeb-config-'));
  const f = join(dir, 'c.yaml');
  await writeFile(f, 'name: x\nbackend:\n  type: pytorch\n  trust_remote_code: true\nlauncher: {type: process}\n');
  const { warnings } = await loadConfig({ file: f });
  expect(warnings).toEqual(['unknown key backend.trust_remote_code ignored', 'unknown key launcher ignored']);
  await writeFile(f, 'scenario:\n  generate_kwargs: {max_new_tokens: 5, do_sample: false}\n  reasoning_params: {custom_flag: 1}\n');
  expect((await loadConfig({ file: f })).warnings).toEqual(['unknown key scenario.generate_kwargs.do_sample ignored']);
  // A typo of a known key would silently change the run: an error naming the key it resembles.
  expect(await problems(['scenario.num_sample=10'])).toEqual(['scenario.num_sample: unknown key; did you mean scenario.num_samples?']);
  expect(await problems(['scenario.generate_kwargs.max_new_token=10'])).toEqual(['scenario.generate_kwargs.max_new_token: unknown key; did you mean scenario.generate_kwargs.max_new_tokens?']);
  await writeFile(f, '- just\n- a list\n');
  await expect(loadConfig({ file: f })).rejects.toThrow(/top level must be a map/);
  await expect(loadConfig({ file: join(dir, 'missing.yaml') })).rejects.toThrow(/cannot read config file .*ENOENT/);
});

it('defaults: native backend, built-in prompts, sequential load, one warmup request', async () => {
  const { config } = await loadConfig();
  expect(backendKind(config)).toBe('native');
  expect(config.backend.model).toBeNull();
  expect(config.scenario.dataset_name).toBeNull();
  expect(loadPlanOf(config)).toEqual({ mode: 'sequential' });
  expect(config.runner.warmup_requests).toBe(1);
});

it("metrics.output_dir (the old system's CodeCarbon emissions folder) never moves the results", async () => {
  const legacy = await loadConfig({ overrides: ['metrics.output_dir=./emissions'] });
  expect(legacy.config.results.output_dir).toBe('./results');
  expect(legacy.warnings).toEqual([]);
  const both = await loadConfig({ overrides: ['metrics.output_dir=./emissions', 'results.output_dir=/data/new'] });
  expect(both.config.results.output_dir).toBe('/data/new');
});

it('warns about settings that do not do what they seem: native concurrency, --arrival without --rate, more threads than CPUs', async () => {
  const { availableParallelism } = await import('node:os');
  const { warnings } = await loadConfig({ overrides: ['load.mode=concurrency', 'load.concurrency=4', 'load.arrival=poisson', `backend.threads=${availableParallelism() + 1}`] });
  expect(warnings).toHaveLength(3);
  expect(warnings[0]).toMatch(/^load\.concurrency 4 \(--concurrency\): the native in-process engine runs one generation at a time, so concurrency > 1 only adds queue time/);
  expect(warnings[1]).toMatch(/^load\.arrival poisson \(--arrival\) is ignored: the arrival process applies only with --rate/);
  expect(warnings[2]).toMatch(new RegExp(`^backend\\.threads ${availableParallelism() + 1} \\(--threads\\) is more than the ${availableParallelism()} CPUs`));
  // A server handles concurrency itself; an arrival process with a rate is used; threads within the CPU count are fine.
  const ok = await loadConfig({ overrides: ['backend.type=vllm', 'backend.model=m', 'backend.endpoint=http://127.0.0.1:8000/v1', 'load.mode=rate', 'load.rate=2', 'load.arrival=gamma', 'backend.threads=1'] });
  expect(ok.warnings).toEqual([]);
});

it('accepts an endpoint without a scheme as http:// (as the client does) and rejects other schemes naming them', async () => {
  for (const endpoint of ['127.0.0.1:8000', 'localhost:8000/v1']) {
    const { config } = await loadConfig({ overrides: ['backend.type=vllm', 'backend.model=m', `backend.endpoint=${endpoint}`] });
    expect(config.backend.endpoint).toBe(endpoint);
  }
  const ftp = await loadConfig({ overrides: ['backend.endpoint=ftp://host/v1'] }).catch((e: unknown) => e);
  expect(ftp).toBeInstanceOf(ConfigError);
  expect((ftp as Error).message).toMatch(/backend\.endpoint.*"ftp:\/\/host\/v1" must use http:\/\/ or https:\/\/ \(got ftp:\)/);
});

it('--max-prompt-tokens with a server backend names backend.tokenizer / --tokenizer as the way to give a tokenizer', async () => {
  const server = ['backend.type=vllm', 'backend.model=m', 'backend.endpoint=http://127.0.0.1:8000/v1', 'scenario.max_prompt_tokens=16'];
  const err = await loadConfig({ overrides: server }).catch((e: unknown) => e);
  expect((err as Error).message).toMatch(/backend\.tokenizer is required to truncate prompts to scenario\.max_prompt_tokens \(--max-prompt-tokens\) with backend type vllm: set backend\.tokenizer=DIR \(or --tokenizer DIR\)/);
  expect((await loadConfig({ overrides: [...server, 'backend.tokenizer=/models/tok'] })).config.backend.tokenizer).toBe('/models/tok');
});

it('metrics.cpu_watts_per_core: a positive number or null (the monitor default)', async () => {
  expect((await loadConfig({})).config.metrics.cpu_watts_per_core).toBeNull();
  expect((await loadConfig({ overrides: ['metrics.cpu_watts_per_core=7.5'] })).config.metrics.cpu_watts_per_core).toBe(7.5);
  await expect(loadConfig({ overrides: ['metrics.cpu_watts_per_core=0'] })).rejects.toThrow(/metrics\.cpu_watts_per_core/);
});

it('one dtype table for run and generate: both spellings, auto = engine default, anything else named', async () => {
  const { parseDtype } = await import('../../src/config/dtype.js');
  expect(['bfloat16', 'bf16', 'float32', 'f32', 'float16', 'f16', 'auto'].map(parseDtype)).toEqual(['bf16', 'bf16', 'f32', 'f32', 'f16', 'f16', undefined]);
  expect(() => parseDtype('int8')).toThrow(/dtype "int8" is not supported; use one of auto, float32, f32, bfloat16, bf16, float16, f16/);
  expect((await loadConfig({ overrides: ['backend.torch_dtype=bf16'] })).config.backend.torch_dtype).toBe('bf16');
});
