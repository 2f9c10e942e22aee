import { expect, it } from 'vitest';
import { checkPromptIds } from '../../src/cli/commands/generate.js';
import { RUN_FLAG_KEYS, runOverrides } from '../../src/cli/commands/run.js';
import { createEnergyMonitor } from '../../src/cli/wiring.js';
import { loadConfig } from '../../src/config/load.js';

it('--cpu-watts-per-core / metrics.cpu_watts_per_core reach the CPU estimate of the energy monitor', async () => {
  expect(RUN_FLAG_KEYS.cpuWattsPerCore).toBe('metrics.cpu_watts_per_core');
  const { config } = await loadConfig({ overrides: runOverrides({ cpuWattsPerCore: 7 }) });
  expect(config.metrics.cpu_watts_per_core).toBe(7);
  // No RAPL where the powercap tree is absent: the CPU figure is the estimate, at the configured W/core.
  const hasRapl = await import('node:fs/promises').then((fs) => fs.stat('/sys/class/powercap').then(() => true, () => false));
  if (hasRapl) return;
  const monitor = (await createEnergyMonitor(config))!;
  await monitor.startWindow('measured');
  const w = await monitor.stopWindow();
  await monitor.close();
  const estimate = w.figures.find((f) => f.method === 'estimated');
  expect(estimate?.source).toBe('system CPU time × 7 W/core');
});

it('--prompt-ids outside the vocabulary are named by the flag, not by the engine option', () => {
  expect(() => checkPromptIds([1, 99999], 264)).toThrow('--prompt-ids value 99999 is outside the vocabulary [0, 263] of this model');
  expect(() => checkPromptIds([0, 263], 264)).not.toThrow();
});

it('run infers the server backend from --endpoint; --backend native with --endpoint is a usage error naming both', async () => {
  const { config } = await loadConfig({ overrides: runOverrides({ endpoint: 'http://127.0.0.1:8000/v1', model: 'm' }) });
  expect(config.backend.type).toBe('vllm');
  const explicit = await loadConfig({ overrides: runOverrides({ endpoint: 'http://127.0.0.1:8000/v1', model: 'm', backend: 'openai' }) });
  expect(explicit.config.backend.type).toBe('openai');
  expect(() => runOverrides({ endpoint: 'http://127.0.0.1:8000/v1', backend: 'native' }))
    .toThrow('--backend native runs the model in-process and cannot use --endpoint http://127.0.0.1:8000/v1');
});
