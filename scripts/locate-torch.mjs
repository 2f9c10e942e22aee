#!/usr/bin/env node
// Finds libtorch for the native build. One locator feeds both CMakeLists.txt (Torch_DIR, or
// explicit include/lib/flags when find_package cannot be used) and binding.gyp (include dirs,
// lib dir, C++ flags). Search order:
//   1. env LIBTORCH (a libtorch root: share/cmake/Torch) or env Torch_DIR (the cmake dir)
//   2. the active python's torch (pip wheel, e.g. CUDA builds on GPU servers)
//   3. a system libtorch (Debian/Ubuntu libtorch-dev)
// The C++ ABI flag (_GLIBCXX_USE_CXX11_ABI) always comes from torch itself: TORCH_CXX_FLAGS of
// its CMake config (probed with a throw-away cmake project) or, for a python torch,
// torch._C._GLIBCXX_USE_CXX11_ABI. It is never assumed.
//
// CLI: node scripts/locate-torch.mjs [--json] [--gyp include_dirs|libraries|cflags|ldflags]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEM_TORCH_DIRS = [
  '/usr/lib/x86_64-linux-gnu/cmake/Torch',
  '/usr/lib/aarch64-linux-gnu/cmake/Torch',
  '/usr/local/share/cmake/Torch',
  '/usr/share/cmake/Torch',
];

/** Where libtorch may come from, in search order, each with why it was (not) usable. */
export function torchCandidates(env = process.env, { python = env.AEB_PYTHON || 'python3' } = {}) {
  const out = [];
  if (env.LIBTORCH) {
    out.push({ source: 'env LIBTORCH', torchDir: join(resolve(env.LIBTORCH), 'share', 'cmake', 'Torch') });
  }
  if (env.Torch_DIR) out.push({ source: 'env Torch_DIR', torchDir: resolve(env.Torch_DIR) });
  if (out.length > 0) return out; // an explicit choice is never silently replaced by another torch
  const py = pythonTorch(python);
  if (py.ok) out.push({ source: `python torch (${python})`, torchDir: join(py.cmakePrefix, 'Torch'), python: py });
  else out.push({ source: `python torch (${python})`, torchDir: null, reason: py.reason });
  for (const dir of SYSTEM_TORCH_DIRS) out.push({ source: 'system libtorch', torchDir: dir });
  return out;
}

function pythonTorch(python) {
  const code = [
    'import json, os, torch, torch.utils',
    'from torch.utils import cpp_extension as ce',
    'print(json.dumps({"cmakePrefix": torch.utils.cmake_prefix_path, "version": torch.__version__,',
    ' "cuda": torch.version.cuda, "abi": int(torch._C._GLIBCXX_USE_CXX11_ABI),',
    ' "includeDirs": ce.include_paths(), "libDir": os.path.join(os.path.dirname(torch.__file__), "lib")}))',
  ].join('\n');
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { ok: false, reason: `${python} not runnable (${r.error.message})` };
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`;
    return { ok: false, reason: `${python} has no usable torch (${last})` };
  }
  try {
    return { ok: true, ...JSON.parse(r.stdout.trim().split('\n').pop()) };
  } catch {
    return { ok: false, reason: `${python} printed unexpected output: ${r.stdout.slice(0, 200)}` };
  }
}

const PROBE_CMAKE = `cmake_minimum_required(VERSION 3.18)
project(aeb_torch_probe LANGUAGES C CXX)
find_package(Torch REQUIRED)
get_filename_component(_libdir "\${TORCH_LIBRARY}" DIRECTORY)
set(_cuda OFF)
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(_cuda ON)
endif()
message(STATUS "AEB_PROBE version=\${Torch_VERSION}")
message(STATUS "AEB_PROBE cxxflags=\${TORCH_CXX_FLAGS}")
message(STATUS "AEB_PROBE includes=\${TORCH_INCLUDE_DIRS}")
message(STATUS "AEB_PROBE libdir=\${_libdir}")
message(STATUS "AEB_PROBE cuda=\${_cuda}")
`;

/** Runs find_package(Torch) in a throw-away project and reads what torch's config sets. */
export function probeWithCmake(torchDir) {
  const dir = mkdtempSync(join(tmpdir(), 'aeb-torch-probe-'));
  try {
    writeFileSync(join(dir, 'CMakeLists.txt'), PROBE_CMAKE);
    const r = spawnSync('cmake', ['-S', dir, '-B', join(dir, 'b'), `-DTorch_DIR=${torchDir}`], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (r.error) return { ok: false, reason: `cmake not runnable (${r.error.message})` };
    const text = `${r.stdout}\n${r.stderr}`;
    if (r.status !== 0) {
      const err = text.split('\n').filter((l) => /error|Could not|not find/i.test(l)).slice(0, 4).join(' | ');
      return { ok: false, reason: `find_package(Torch) failed: ${err || `cmake exit ${r.status}`}` };
    }
    const get = (k) => (text.match(new RegExp(`AEB_PROBE ${k}=(.*)`)) || [])[1]?.trim() ?? '';
    return {
      ok: true,
      version: get('version') || readConfigVersion(torchDir),
      cxxFlags: get('cxxflags').split(/\s+/).filter(Boolean),
      includeDirs: get('includes').split(';').filter(Boolean),
      libDir: get('libdir'),
      cuda: get('cuda') === 'ON',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readConfigVersion(torchDir) {
  try {
    const t = readFileSync(join(torchDir, 'TorchConfigVersion.cmake'), 'utf8');
    return (t.match(/PACKAGE_VERSION "([^"]+)"/) || [])[1] ?? '';
  } catch {
    return '';
  }
}

/**
 * Last resort when find_package(Torch) fails for a libtorch tree (typically a CUDA build on a
 * machine without the CUDA toolkit): the standard layout <prefix>/{include,lib} and the ABI
 * flag that TorchConfig.cmake sets (TORCH_CXX_FLAGS).
 */
function explicitFromConfig(torchDir) {
  let text;
  try {
    text = readFileSync(join(torchDir, 'TorchConfig.cmake'), 'utf8');
  } catch {
    return null;
  }
  const abi = text.match(/TORCH_CXX_FLAGS\s+"-D_GLIBCXX_USE_CXX11_ABI=([01])"/);
  const prefix = resolve(torchDir, '..', '..', '..');
  const libDir = join(prefix, 'lib');
  if (!abi || !existsSync(join(libDir, 'libtorch.so')) || !existsSync(join(prefix, 'include', 'torch'))) return null;
  return {
    version: readConfigVersion(torchDir),
    cuda: hasCudaLibs(libDir),
    cxxFlags: [`-D_GLIBCXX_USE_CXX11_ABI=${abi[1]}`],
    includeDirs: [join(prefix, 'include'), join(prefix, 'include', 'torch', 'csrc', 'api', 'include')],
    libDir,
    cmakeUsable: false,
  };
}

function hasCudaLibs(libDir) {
  try {
    return readdirSync(libDir).some((f) => /^libtorch_cuda(\.|_)/.test(f) || f.startsWith('libc10_cuda'));
  } catch {
    return false;
  }
}

/**
 * Returns { found: true, source, torchDir, version, cuda, cxxFlags, abi, includeDirs, libDir,
 * tried } or { found: false, tried }. `tried` lists every candidate and why it was rejected.
 * With probe=false the cmake/python details are skipped (only torchDir and source).
 */
export function locateTorch({ env = process.env, probe = true } = {}) {
  const tried = [];
  for (const c of torchCandidates(env)) {
    if (!c.torchDir) {
      tried.push(`${c.source}: ${c.reason}`);
      continue;
    }
    if (!existsSync(join(c.torchDir, 'TorchConfig.cmake'))) {
      tried.push(`${c.source}: no TorchConfig.cmake in ${c.torchDir}`);
      continue;
    }
    if (!probe) return { found: true, source: c.source, torchDir: c.torchDir, tried };
    let info;
    const cm = probeWithCmake(c.torchDir);
    if (cm.ok) {
      const { ok: _ok, ...probed } = cm;
      info = { ...probed, cuda: cm.cuda || hasCudaLibs(cm.libDir), cmakeUsable: true };
      // torch >= 2.x configs may leave TORCH_CXX_FLAGS empty; a python torch still says which
      // ABI it was built with, and gyp builds need the flag spelled out.
      if (c.python && !info.cxxFlags.some((f) => f.includes('_GLIBCXX_USE_CXX11_ABI'))) {
        info.cxxFlags = [...info.cxxFlags, `-D_GLIBCXX_USE_CXX11_ABI=${c.python.abi}`];
      }
    } else if (c.python) {
      // pip wheels: find_package(Torch) can fail (e.g. a CUDA wheel on a server without the
      // CUDA toolkit); python knows everything, and CMakeLists.txt takes the explicit values.
      tried.push(`${c.source}: ${cm.reason}; using torch's own paths and ABI flag instead`);
      info = {
        version: c.python.version,
        cuda: Boolean(c.python.cuda) || hasCudaLibs(c.python.libDir),
        cxxFlags: [`-D_GLIBCXX_USE_CXX11_ABI=${c.python.abi}`],
        includeDirs: c.python.includeDirs,
        libDir: c.python.libDir,
        cmakeUsable: false,
      };
    } else {
      const fromConfig = explicitFromConfig(c.torchDir);
      if (!fromConfig) {
        tried.push(`${c.source} (${c.torchDir}): ${cm.reason}`);
        continue;
      }
      tried.push(`${c.source}: ${cm.reason}; using the paths and ABI flag in its TorchConfig.cmake instead`);
      info = fromConfig;
    }
    const abiFlag = info.cxxFlags.find((f) => f.includes('_GLIBCXX_USE_CXX11_ABI'));
    return {
      found: true,
      source: c.source,
      torchDir: c.torchDir,
      ...info,
      abi: abiFlag ? Number(abiFlag.split('=')[1]) : null,
      tried,
    };
  }
  return { found: false, tried };
}

/** Libraries to link for a libtorch lib dir (CUDA ones only when present). */
export function torchLinkLibraries(libDir) {
  const libs = ['torch', 'torch_cpu', 'c10'];
  for (const extra of ['torch_cuda', 'c10_cuda']) {
    if (existsSync(join(libDir, `lib${extra}.so`))) libs.push(extra);
  }
  return libs;
}

function gypOutput(what, t) {
  switch (what) {
    case 'include_dirs':
      return t.includeDirs.join(' ');
    case 'cflags':
      return t.cxxFlags.join(' ');
    case 'libraries':
      return torchLinkLibraries(t.libDir).map((l) => `-l${l}`).join(' ');
    case 'ldflags':
      // --no-as-needed keeps libtorch_cuda linked although no symbol of it is referenced:
      // its static initialisers register the CUDA backend.
      return [`-L${t.libDir}`, `-Wl,-rpath,${t.libDir}`, '-Wl,-z,now', '-Wl,--no-as-needed'].join(' ');
    default:
      throw new Error(`locate-torch: unknown --gyp value "${what}" (include_dirs|cflags|libraries|ldflags)`);
  }
}

/** Human-readable "how to fix" text for a failed search. */
export function torchNotFoundMessage(tried) {
  return [
    'libtorch was not found. Tried:',
    ...tried.map((t) => `  - ${t}`),
    'Fix one of:',
    '  - Debian/Ubuntu: apt-get install -y libtorch-dev libopenblas0-pthread',
    '  - pip: python3 -m pip install torch   (the active python3 is used; AEB_PYTHON picks another)',
    '  - a libtorch zip: export LIBTORCH=/path/to/libtorch   (or Torch_DIR=/path/to/libtorch/share/cmake/Torch)',
    'Or skip the native engine: AEB_SKIP_NATIVE=1 npm install',
  ].join('\n');
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  // scripts/build-gyp.mjs probes once and hands the result to each binding.gyp expansion.
  const t = process.env.AEB_TORCH_LOCATED ? JSON.parse(process.env.AEB_TORCH_LOCATED) : locateTorch();
  if (!t.found) {
    process.stderr.write(`${torchNotFoundMessage(t.tried)}\n`);
    process.exit(1);
  }
  const gi = args.indexOf('--gyp');
  if (gi >= 0) process.stdout.write(`${gypOutput(args[gi + 1], t)}\n`);
  else process.stdout.write(`${JSON.stringify(t, null, args.includes('--json') ? 0 : 2)}\n`);
}

