// A process with an energy monitor still open (sampler running, window open, NVML session
// live) must exit on its own: the sampler's timer is unref'd and nothing else holds the loop.
// The energy module is transpiled to plain JS in a temp dir so a child `node` can run it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { buildFakeNvml, loadNvmlAddon, REPO } from '../fixtures/fake-nvml/harness.js';

let dir: string;
let lib: string;
let addonPath: string;

function transpileDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from).filter((n) => n.endsWith('.ts'))) {
    const out = ts.transpileModule(readFileSync(join(from, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(to, f.replace(/\.ts$/, '.js')), out.outputText);
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeb-nvml-exit-'));
  lib = buildFakeNvml(dir);
  addonPath = loadNvmlAddon(dir).from;
  transpileDir(join(REPO, 'src', 'energy'), join(dir, 'js', 'energy'));
  transpileDir(join(REPO, 'src', 'native'), join(dir, 'js', 'native'));
  writeFileSync(join(dir, 'js', 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(dir, 'script.txt'), 'device\nname G\nbus 0000:01:00.0\nuuid GPU-1\nenergy 1 2 3\npower 100000\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('exits on its own with a monitor left open', () => {
  const child = `
    import { createRequire } from 'node:module';
    const { createEnergyMonitor } = await import(${JSON.stringify(join(dir, 'js', 'energy', 'index.js'))});
    const { addonNvmlProvider } = await import(${JSON.stringify(join(dir, 'js', 'energy', 'nvml-adapter.js'))});
    const addon = createRequire(import.meta.url)(${JSON.stringify(addonPath)});
    const m = await createEnergyMonitor({
      nvml: addonNvmlProvider(addon), nvmlLibrary: ${JSON.stringify(lib)}, sampleHz: 20,
      raplRoot: ${JSON.stringify(join(dir, 'no-rapl'))}, env: {},
    });
    await m.startWindow('left open');
    await new Promise((r) => setTimeout(r, 300));
    console.log('rows', m.timeline().length);
  `;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], {
    env: { ...process.env, AEB_FAKE_NVML_SCRIPT: join(dir, 'script.txt') },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(r.error).toBeUndefined();
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(Number(/rows (\d+)/.exec(r.stdout)![1])).toBeGreaterThanOrEqual(2);
  expect(Date.now() - t0).toBeLessThan(15_000);
});
