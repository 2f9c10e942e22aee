// Where the text side of a model lives. A Hugging Face checkpoint is one directory; a
// TorchScript file names its tokenizer in the sidecar the native loader also reads
// (`<file>.json`, else `aeb.json` beside it: {"tokenizer_dir": "..."}, relative to the file),
// and otherwise shares the file's directory.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';

async function readJsonIfPresent(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new Error(`${path}: not a JSON object`);
}

/** The directory holding tokenizer.json / tokenizer_config.json for a model path. */
export async function tokenizerDirFor(modelPath: string): Promise<string> {
  const path = resolve(modelPath);
  if ((await stat(path)).isDirectory()) return path;
  const dir = dirname(path);
  for (const sidecar of [`${path}.json`, join(dir, 'aeb.json')]) {
    const json = await readJsonIfPresent(sidecar);
    if (!json) continue;
    const t = json.tokenizer_dir;
    if (t === undefined || t === null) return dir;
    if (typeof t !== 'string' || t === '') throw new Error(`${sidecar}: tokenizer_dir must be a non-empty string`);
    return isAbsolute(t) ? t : resolve(dir, t);
  }
  return dir;
}
