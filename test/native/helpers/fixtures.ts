// Native test fixtures: the real stories260K model converted to the HF layout, and a tiny
// seeded random Llama, each written once per test file into a temp dir.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertLlama2c } from '../../../src/convert/llama2c.js';
import { LLAMA_TINY, writeSyntheticLlama } from '../../../src/engine/synthetic-llama.js';
import { stories260kDir } from '../../helpers/fixtures.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const ADDON_PATH = join(REPO_ROOT, 'build', 'Release', 'aeb.node');
export const STORIES_BIN = join(stories260kDir(), 'stories260K.bin');
const STORIES_REFERENCE = join(stories260kDir(), 'reference.json');

/** Native suites run unless the addon was deliberately skipped; a missing build then fails loudly. */
export const SKIP_NATIVE = process.env.AEB_SKIP_NATIVE === '1';

export interface ReferenceCase {
  prompt_ids: number[];
  max_new_tokens: number;
  generated_ids: number[];
  stopped_on_bos: boolean;
  compare_first: number;
  first_step_logits: number[];
}

export function storiesReference(): ReferenceCase[] {
  return (JSON.parse(readFileSync(STORIES_REFERENCE, 'utf8')) as { cases: ReferenceCase[] }).cases;
}

export interface FixtureDirs {
  root: string;
  stories: string;
  tiny: string;
  cleanup(): Promise<void>;
}

export async function makeFixtures(): Promise<FixtureDirs> {
  if (!existsSync(ADDON_PATH)) {
    throw new Error(`native tests need ${ADDON_PATH}: run npm run build:native (or set AEB_SKIP_NATIVE=1 to skip them)`);
  }
  const root = await mkdtemp(join(tmpdir(), 'aeb-native-'));
  const stories = join(root, 'stories260K');
  const tiny = join(root, 'tiny');
  await convertLlama2c(STORIES_BIN, stories);
  await writeSyntheticLlama(tiny, LLAMA_TINY);
  return { root, stories, tiny, cleanup: () => rm(root, { recursive: true, force: true }) };
}
