#!/usr/bin/env node
// `npm install` hook: builds the native addon (build/Release/aeb.node) with cmake-js, offline.
//   AEB_SKIP_NATIVE=1     skip (the HTTP backend and everything else still work)
//   LIBTORCH / Torch_DIR  choose libtorch (see scripts/locate-torch.mjs for the search order)
//   AEB_NODE_HEADERS      Node-API headers dir (see scripts/node-headers.mjs)
//   AEB_BUILD_JOBS        parallel compile jobs (default: all cores)
//   --force               clean rebuild (npm run build:native)
// A failed build fails `npm install` with what was tried and how to fix it: the package's core
// feature is the native engine, and a silently missing addon would only surface later.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateTorch, torchNotFoundMessage } from './locate-torch.mjs';
import { findNodeHeaders } from './node-headers.mjs';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(ROOT, 'build');
const RELEASE = join(BUILD, 'Release');
const ADDON = join(RELEASE, 'aeb.node');

const log = (msg) => process.stdout.write(`[aeb native] ${msg}\n`);

export class BuildFailure extends Error {}

export function fail(what, fixes) {
  throw new BuildFailure([`native build failed: ${what}`, ...fixes.map((f) => `  - ${f}`)].join('\n'));
}

function isDebianRoot() {
  return existsSync('/etc/debian_version') && typeof process.getuid === 'function' && process.getuid() === 0;
}

function aptInstallTorch() {
  const pkgs = ['libtorch-dev', 'libopenblas0-pthread'];
  log(`libtorch not found; running apt-get install -y ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', env });
  }
  return r.status === 0;
}

export function resolveTorch() {
  let torch = locateTorch();
  // Only when nothing was chosen explicitly: a wrong LIBTORCH/Torch_DIR is the user's to fix.
  const explicit = Boolean(process.env.LIBTORCH || process.env.Torch_DIR);
  if (!torch.found && !explicit && isDebianRoot() && aptInstallTorch()) torch = locateTorch();
  if (!torch.found) throw new BuildFailure(torchNotFoundMessage(torch.tried));
  return torch;
}

/** Node-API headers: a local dir only; cmake-js/node-gyp must never try to download. */
export function resolveNodeHeaders() {
  const h = findNodeHeaders();
  if (!h.includeDir) {
    fail('no Node-API headers found', [
      ...h.tried,
      'set AEB_NODE_HEADERS to a directory containing node_api.h (e.g. <node prefix>/include/node)',
      'or install the npm package node-api-headers (a dependency of cmake-js)',
    ]);
  }
  if (h.nodeRoot) return h;
  // cmake-js only checks that <runtimeDirectory>/include/node/node.h exists before deciding not
  // to download; the real include dir is passed to CMakeLists.txt as AEB_NODE_INCLUDE_DIR.
  const shim = join(BUILD, 'node-headers-shim');
  mkdirSync(join(shim, 'include', 'node'), { recursive: true });
  writeFileSync(join(shim, 'include', 'node', 'node.h'), '// marker for cmake-js; the real headers are passed as AEB_NODE_INCLUDE_DIR\n');
  return { ...h, nodeRoot: shim };
}

async function buildWithCmakeJs(torch, headers, { force }) {
  // cmake-js replaces options.runtimeDirectory with npm_config_nodedir whenever npm config env
  // vars exist (always under `npm install`), so set both.
  process.env.npm_config_nodedir = headers.nodeRoot;
  const { BuildSystem } = require('cmake-js');
  const cMakeOptions = {
    // find_package(Torch) only where the locator's probe showed it works; otherwise the
    // explicit AEB_TORCH_* values below (CMakeLists.txt "explicit" mode).
    ...(torch.cmakeUsable ? { Torch_DIR: torch.torchDir } : { CMAKE_DISABLE_FIND_PACKAGE_Torch: 'ON' }),
    NODE_ADDON_API_DIR: require('node-addon-api').include_dir.replace(/^"|"$/g, ''),
    AEB_NODE_INCLUDE_DIR: headers.includeDir,
    AEB_TORCH_INCLUDE_DIRS: torch.includeDirs.join(';'),
    AEB_TORCH_LIB_DIR: torch.libDir,
    AEB_TORCH_CXX_FLAGS: torch.cxxFlags.join(' '),
  };
  if (process.env.AEB_MARCH !== undefined) cMakeOptions.AEB_MARCH = process.env.AEB_MARCH;
  const bs = new BuildSystem({
    directory: ROOT,
    out: BUILD,
    config: 'Release',
    runtimeDirectory: headers.nodeRoot,
    cMakeOptions,
    parallel: Number(process.env.AEB_BUILD_JOBS) || availableParallelism(),
  });
  if (force) await bs.clean();
  await bs.configure(); // always: picks up a changed libtorch / headers location
  await bs.build();
}

/** Loads the fresh addon in a child process: catches ABI / rpath problems at install time. */
export function verifyAddon() {
  const code = `const a = require(${JSON.stringify(ADDON)}); process.stdout.write(JSON.stringify(a.runtimeInfo()));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    fail(`the addon was built but does not load: ${(r.stderr || '').trim().split('\n').slice(0, 3).join(' ')}`, [
      'an ABI or library mismatch with libtorch: rebuild with `npm run build:native` after fixing LIBTORCH/Torch_DIR',
    ]);
  }
  return JSON.parse(r.stdout);
}

/** mtime of the addon in ms, or null when absent. */
function addonMtimeMs() {
  try {
    return statSync(ADDON).mtimeMs;
  } catch {
    return null;
  }
}

/** The builtAt of the existing build info, when the addon it describes was not rebuilt since. */
function previousBuiltAt(mtimeBefore) {
  if (mtimeBefore === null || addonMtimeMs() !== mtimeBefore) return null;
  try {
    return JSON.parse(readFileSync(join(RELEASE, 'aeb-build-info.json'), 'utf8')).builtAt ?? null;
  } catch {
    return null;
  }
}

export function writeBuildInfo(torch, headers, builder, runtime, builtAt = null) {
  const info = {
    builtAt: builtAt ?? new Date().toISOString(),
    builder,
    addon: ADDON,
    torch: {
      source: torch.source,
      torchDir: torch.torchDir,
      libDir: torch.libDir,
      version: torch.version,
      cuda: torch.cuda,
      abiFlag: torch.cxxFlags.find((f) => f.includes('_GLIBCXX_USE_CXX11_ABI')) ?? null,
    },
    node: { version: process.version, headers: headers.includeDir, headersSource: headers.source },
    runtime,
  };
  mkdirSync(RELEASE, { recursive: true });
  writeFileSync(join(RELEASE, 'aeb-build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

/** Prints a build failure (no stack for expected ones) and exits 1. */
export function reportFailure(e) {
  process.stderr.write(`\n[aeb native] ${e instanceof BuildFailure ? e.message : e?.stack ?? e}\n`);
  process.stderr.write('[aeb native] To install without the native engine: AEB_SKIP_NATIVE=1 npm install\n');
  process.exit(1);
}

async function main() {
  if (process.env.AEB_SKIP_NATIVE === '1') {
    log('AEB_SKIP_NATIVE=1: skipping the native addon. The native engine (`--backend native`, `aeb generate`) '
      + 'is unavailable until you run `npm run build:native`.');
    return;
  }
  const force = process.argv.includes('--force');
  const torch = resolveTorch();
  log(`libtorch ${torch.version} (${torch.source}: ${torch.torchDir}), cuda ${torch.cuda ? 'yes' : 'no'}, ${torch.cxxFlags.join(' ')}`);
  const headers = resolveNodeHeaders();
  log(`Node-API headers: ${headers.includeDir} (${headers.source})`);
  const mtimeBefore = force ? null : addonMtimeMs();
  try {
    await buildWithCmakeJs(torch, headers, { force });
  } catch (e) {
    fail(`cmake-js: ${e instanceof Error ? e.message : String(e)}`, [
      'the compiler output above names the failing file',
      'needs cmake >= 3.18 and a C++17 compiler (apt-get install -y cmake g++)',
      `libtorch used: ${torch.torchDir} (override with LIBTORCH or Torch_DIR)`,
      'retry a clean build: npm run build:native',
    ]);
  }
  if (!existsSync(ADDON)) fail(`cmake-js finished but ${ADDON} is missing`, ['retry: npm run build:native']);
  const runtime = verifyAddon();
  // Nothing to rebuild (e.g. `npx aeb` running the install script again): keep the build time.
  const unchangedSince = previousBuiltAt(mtimeBefore);
  writeBuildInfo(torch, headers, 'cmake-js', runtime, unchangedSince);
  log(`${unchangedSince ? `up to date (built ${unchangedSince})` : 'built'} ${ADDON} (torch ${runtime.torchVersion ?? torch.version}, BLAS ${runtime.blas ?? '?'})`);
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1]);
if (isMain) {
  main().catch(reportFailure);
}
