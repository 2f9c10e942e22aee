#!/usr/bin/env node
// node-gyp alternative to the cmake-js build (npm run build:native:gyp). Same torch locator,
// local Node headers (--nodedir, never a download), same verification and build info.
// node-gyp owns ./build: this replaces a cmake-js build there (and vice versa).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, reportFailure, resolveTorch, verifyAddon, writeBuildInfo } from './install-native.mjs';
import { findNodeHeaders } from './node-headers.mjs';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function main() {
  if (process.env.AEB_SKIP_NATIVE === '1') {
    process.stdout.write('[aeb native] AEB_SKIP_NATIVE=1: skipping the node-gyp build\n');
    return;
  }
  const torch = resolveTorch();
  const headers = findNodeHeaders();
  // node-gyp reads <nodedir>/include/node/common.gypi: a bare node_api.h dir is not enough.
  if (!headers.nodeRoot || !existsSync(join(headers.nodeRoot, 'include', 'node', 'common.gypi'))) {
    fail('node-gyp needs a full Node headers tree (<dir>/include/node/common.gypi)', [
      ...headers.tried,
      headers.includeDir ? `found only ${headers.includeDir}` : 'no Node headers found',
      'set AEB_NODE_HEADERS=<node prefix> (the directory holding include/node), or use the cmake-js build: npm run build:native',
    ]);
  }
  const gyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  const jobs = String(Number(process.env.AEB_BUILD_JOBS) || availableParallelism());
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${headers.nodeRoot}`, '-j', jobs], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, AEB_TORCH_LOCATED: JSON.stringify(torch) },
  });
  if (r.status !== 0) {
    fail(`node-gyp rebuild exited with ${r.status ?? r.signal}`, [
      'the compiler output above names the failing file',
      `libtorch used: ${torch.torchDir} (override with LIBTORCH or Torch_DIR)`,
      'the cmake-js build is the primary one: npm run build:native',
    ]);
  }
  const runtime = verifyAddon();
  writeBuildInfo(torch, headers, 'node-gyp', runtime);
  process.stdout.write(`[aeb native] built ${join(ROOT, 'build', 'Release', 'aeb.node')} with node-gyp (torch ${runtime.torchVersion})\n`);
}

try {
  main();
} catch (e) {
  reportFailure(e);
}
