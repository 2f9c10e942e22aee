// Public TypeScript API of the native libtorch engine.
import { loadAddon } from '../native/index.js';
import { NativeModel, withCallSite } from './model.js';
import type { LoadOptions } from './types.js';
import { validateLoadArgs } from './validate.js';

export type * from './types.js';
export { NativeModel, EngineError } from './model.js';
export { EngineArgumentError, EngineRangeError } from './validate.js';

/**
 * Loads a model on its own native thread: an HF checkpoint directory (config.json +
 * *.safetensors: Llama, Mistral, Qwen2, Qwen3, GPT-2) or a TorchScript file (torch.jit.save
 * output, with an optional `<file>.json` sidecar). Rejects with an Error whose `code` is
 * the engine's (FILE_NOT_FOUND, CONFIG_INVALID, DEVICE_UNAVAILABLE, …) or ADDON_NOT_BUILT.
 */
export async function loadModel(path: string, options?: LoadOptions): Promise<NativeModel> {
  const { path: p, opts } = validateLoadArgs(path, options);
  const callSite = new Error();
  const addon = loadAddon();
  try {
    return new NativeModel(await addon.loadModel(p, opts));
  } catch (error) {
    throw withCallSite(error, callSite);
  }
}
