// Loads the native addon (build/Release/aeb.node) once per process and reports how it was
// built. Every failure is an Error with a stable `code`: ADDON_NOT_BUILT (no file: lists the
// paths tried and how to build) or ADDON_LOAD_FAILED (file present, dlopen failed).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddonRuntimeInfo, NativeAddon } from './addon.js';

export type * from './addon.js';

const require = createRequire(import.meta.url);
/** Package root: this file is src/native/index.ts or dist/native/index.js. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export class NativeAddonError extends Error {
  constructor(
    readonly code: 'ADDON_NOT_BUILT' | 'ADDON_LOAD_FAILED',
    message: string,
    readonly pathsTried: string[],
  ) {
    super(message);
    this.name = 'NativeAddonError';
  }
}

/** Candidate addon files, in order: env AEB_ADDON_PATH, then the build output. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.AEB_ADDON_PATH) out.push(resolve(env.AEB_ADDON_PATH));
  out.push(join(PACKAGE_ROOT, 'build', 'Release', 'aeb.node'));
  return out;
}

const HOW_TO_BUILD = [
  'Build it with `npm run build:native` (cmake-js; needs cmake, a C++17 compiler and libtorch:',
  'apt-get install -y libtorch-dev libopenblas0-pthread, a pip torch, or LIBTORCH=/path/to/libtorch),',
  'or `npm run build:native:gyp` (node-gyp). npm 11 skips dependency install scripts until',
  '`npm install-scripts approve` is run.',
].join('\n');

let cached: NativeAddon | undefined;

/**
 * libgomp reads its wait policy once, when libtorch loads it. Its default spins every OpenMP
 * thread for milliseconds after each parallel region of a prefill, taking the cores the decode
 * kernels' own pool and the JS thread need next (measured on 2 cores: prefill 50-370 ms instead of
 * 10-35, decode of the 134M model 49 instead of 85 tok/s). PASSIVE makes them sleep at once.
 * A value the user set is kept.
 */
export function applyThreadPoolDefaults(env: NodeJS.ProcessEnv = process.env): void {
  env.OMP_WAIT_POLICY ??= 'PASSIVE';
}

/**
 * CUDA numbers GPUs fastest first by default; nvidia-smi and NVML number them by PCI bus id.
 * With CUDA_DEVICE_ORDER=PCI_BUS_ID (read when CUDA initialises, after the addon loads) a
 * `cuda:N` device is nvidia-smi's GPU N (within CUDA_VISIBLE_DEVICES), and the energy module's
 * ordinal → NVML mapping is exact on mixed-GPU machines too. A value the user set is kept.
 */
export function applyCudaDeviceOrder(env: NodeJS.ProcessEnv = process.env): void {
  env.CUDA_DEVICE_ORDER ??= 'PCI_BUS_ID';
}

/** The addon, loaded on first use (≈0.5 s: libtorch). Throws NativeAddonError. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const tried = addonCandidates();
  const file = tried.find((p) => existsSync(p));
  if (!file) {
    throw new NativeAddonError(
      'ADDON_NOT_BUILT',
      `The native addon is not built. Paths tried:\n${tried.map((p) => `  - ${p}`).join('\n')}\n${HOW_TO_BUILD}`,
      tried,
    );
  }
  applyThreadPoolDefaults();
  applyCudaDeviceOrder();
  try {
    cached = require(file) as NativeAddon;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new NativeAddonError(
      'ADDON_LOAD_FAILED',
      `The native addon ${file} failed to load: ${reason}\n`
        + 'Usually libtorch moved or differs from the one it was built against: rebuild with `npm run build:native`.',
      tried,
    );
  }
  return cached;
}

/** What scripts/install-native.mjs recorded about the build (build/Release/aeb-build-info.json). */
export interface NativeBuildInfo {
  builtAt: string;
  builder: 'cmake-js' | 'node-gyp';
  addon: string;
  torch: {
    source: string;
    torchDir: string;
    libDir: string;
    version: string;
    cuda: boolean;
    abiFlag: string | null;
  };
  node: { version: string; headers: string; headersSource: string };
}

export interface NativeRuntimeInfo extends AddonRuntimeInfo {
  addonPath: string;
  /** null when the addon was built without the install script (no aeb-build-info.json). */
  build: NativeBuildInfo | null;
}

export function readBuildInfo(addonPath: string): NativeBuildInfo | null {
  const file = join(dirname(addonPath), 'aeb-build-info.json');
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as NativeBuildInfo;
}

/** Torch version, CUDA devices, BLAS, threads and where libtorch was found. Throws NativeAddonError. */
export function nativeRuntimeInfo(): NativeRuntimeInfo {
  const addon = loadAddon();
  const addonPath = addonCandidates().find((p) => existsSync(p))!;
  return { ...addon.runtimeInfo(), addonPath, build: readBuildInfo(addonPath) };
}
