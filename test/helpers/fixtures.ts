// Locations of the shared test fixtures. CI clones the project with the team's shared/ folder
// beside the checkout (../shared); AEB_STORIES260K_DIR overrides it (device runs carry a copy).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Directory holding stories260K.bin and reference.json; throws a clear error when absent. */
export function stories260kDir(): string {
  const candidates = [process.env.AEB_STORIES260K_DIR, join(REPO_ROOT, '..', 'shared', 'fixtures', 'stories260K')]
    .filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => existsSync(join(p, 'stories260K.bin')));
  if (!found) {
    throw new Error(`stories260K fixture not found; looked in: ${candidates.join(', ')} (set AEB_STORIES260K_DIR)`);
  }
  return found;
}
