// Process lifecycle with the addon loaded: a child that exits mid-generation (process.exit or
// an uncaught error) or simply ends must terminate with its exit code, without hanging (the
// env cleanup hook stops and joins the model threads; idle models do not keep it alive).
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDON_PATH, makeFixtures, SKIP_NATIVE, type FixtureDirs } from './helpers/fixtures.js';

const CHILD = `
import { createRequire } from 'node:module';
const addon = createRequire(import.meta.url)(process.env.AEB_TEST_ADDON);
const [scenario, modelDir] = process.argv.slice(2);
const say = (m) => process.stdout.write(m + '\\n');
const model = await addon.loadModel(modelDir, { threads: 1 });
say('loaded');
switch (scenario) {
  case 'exit-mid-generation': {
    let n = 0;
    model.generate([1], { maxNewTokens: 500, stopIds: [] }, () => { if (++n === 3) { say('exiting'); process.exit(0); } });
    break;
  }
  case 'throw-mid-generation': {
    let n = 0;
    model.generate([1], { maxNewTokens: 500, stopIds: [] }, () => { if (++n === 3) setImmediate(() => { throw new Error('boom'); }); });
    break;
  }
  case 'end-while-generating': {
    // The main module ends at once; the pending generation keeps the process alive until done.
    model.generate([1], { maxNewTokens: 300, stopIds: [] }).then((r) => say('done ' + r.ids.length + ' ' + r.stopReason));
    break;
  }
  case 'exit-listener': {
    // process.exit() runs no env cleanup hooks: the addon stops model threads from 'exit'.
    say(process.listeners('exit').map((f) => f.name).join(','));
    break;
  }
  case 'idle-model': {
    // Loaded, never disposed, nothing pending: must not keep the process alive.
    break;
  }
  case 'two-models-exit': {
    const other = await addon.loadModel(modelDir, { threads: 1 });
    let n = 0;
    const opts = { maxNewTokens: 500, stopIds: [] };
    model.generate([1], opts, () => {});
    other.generate([1], opts, () => { if (++n === 5) process.exit(0); });
    break;
  }
}
`;

// Worker threads that are terminated while the addon initialises or while a generation starts
// delivering tokens: the process must go on (a failed JS call during termination once aborted it).
const WORKER_CHILD = `
import { Worker } from 'node:worker_threads';
const [scenario, modelDir, arg] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const body = (code) => new Worker(\`const { parentPort } = require('node:worker_threads');
parentPort.postMessage('requiring');
const addon = require(process.env.AEB_TEST_ADDON);
\${code}\`, { eval: true, workerData: modelDir });
if (scenario === 'terminate-during-addon-load') {
  // Timed from the moment the worker starts loading the addon (dlopen of libtorch and Init
  // take ~0.3-1 s), so the termination lands inside the load on fast and slow machines alike.
  const w = body('');
  await new Promise((r) => w.once('message', r));
  await sleep(Number(arg));
  await w.terminate();
} else if (scenario === 'terminate-at-generation-start') {
  for (let i = 0; i < Number(arg); i++) {
    const w = body(\`addon.loadModel(require('node:worker_threads').workerData, { threads: 1 }).then((m) => {
  parentPort.postMessage('loaded');
  m.generate([1], { maxNewTokens: 400, stopIds: [] }, () => {});
});\`);
    await new Promise((r) => w.on('message', (m) => m === 'loaded' && r()));
    await sleep(i % 6);
    await w.terminate();
  }
}
process.stdout.write('survived\\n');
`;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runChild(script: string, args: string[], timeoutMs = 60_000): Promise<ChildResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, AEB_TEST_ADDON: ADDON_PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs); // hang guard
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

describe.skipIf(SKIP_NATIVE)('process lifecycle with the native addon', () => {
  let fx: FixtureDirs;
  let script: string;

  beforeAll(async () => {
    fx = await makeFixtures();
    script = join(fx.root, 'child.mjs');
    await writeFile(script, CHILD);
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('process.exit() mid-generation exits 0 promptly', async () => {
    const r = await runChild(script, ['exit-mid-generation', fx.stories]);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('exiting');
  });

  it('an uncaught exception mid-generation exits with code 1, no hang or crash', async () => {
    const r = await runChild(script, ['throw-mid-generation', fx.stories]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boom');
  });

  it('a script that ends while generating waits for the result, then exits 0', async () => {
    const r = await runChild(script, ['end-while-generating', fx.stories]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('done 300 max_new_tokens');
  });

  it("the addon stops its model threads from the process 'exit' event", async () => {
    const r = await runChild(script, ['exit-listener', fx.stories]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[1]).toContain('aebStopModelThreads');
  });

  it('an idle, never-disposed model does not keep the process alive', async () => {
    const r = await runChild(script, ['idle-model', fx.stories]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('loaded\n');
  });

  it('terminating a worker thread while it loads the addon leaves the process running', async () => {
    const workerScript = join(fx.root, 'worker-child.mjs');
    await writeFile(workerScript, WORKER_CHILD);
    for (const delayMs of ['20', '150', '400']) {
      const r = await runChild(workerScript, ['terminate-during-addon-load', fx.stories, delayMs]);
      expect({ delayMs, code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ delayMs, code: 0, signal: null, stderr: '' });
      expect(r.stdout).toBe('survived\n');
    }
  });

  it('terminating worker threads just as their generations start leaves the process running', async () => {
    const workerScript = join(fx.root, 'worker-child.mjs');
    await writeFile(workerScript, WORKER_CHILD);
    const r = await runChild(workerScript, ['terminate-at-generation-start', fx.stories, '48'], 120_000);
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(r.stdout).toBe('survived\n');
  });

  it('two models generating at exit both stop cleanly', async () => {
    const r = await runChild(script, ['two-models-exit', fx.stories]);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
