// Dataset → PromptInput[]: source resolution (built-in set, local file, Hugging Face id),
// selection (first N in order, as the old tool did, or a seeded random sample) and optional
// truncation to a token budget with a caller-supplied tokenizer.
import { stat } from 'node:fs/promises';
import type { PromptInput } from '../backends/types.js';
import { seededRng, shuffled } from '../load/random.js';
import { BUILTIN_DATASET_ID, BUILTIN_PROMPTS } from './builtin.js';
import { DatasetError, formatOf, readTextColumn } from './files.js';
import { cacheMissReason, downloadDataset, findCachedDataset, isHubDatasetId } from './hf-cache.js';

export interface DatasetOptions {
  /** null/undefined/'builtin' = built-in prompts; a .jsonl/.csv/.parquet path; or ORG/NAME. */
  source?: string | null;
  /** Text column (default `text`). */
  column?: string;
  /** How many prompts (default: all). */
  count?: number | null;
  /** 'first' = first N in order (old behaviour); 'random' = seeded sample without replacement. */
  sampling?: 'first' | 'random';
  seed?: number;
  /** Keep at most this many prompt tokens (needs `encode`). */
  maxPromptTokens?: number | null;
  encode?: (text: string) => number[] | Promise<number[]>;
  /** With `encode`, turns the truncated ids back into text; otherwise truncated ids travel as promptIds. */
  decode?: (ids: number[]) => string;
  env?: NodeJS.ProcessEnv;
  /** Set false to never download (tests, air-gapped machines). */
  allowDownload?: boolean;
}

export interface LoadedDataset {
  /** What was read: 'builtin', file path(s) or the hub id with its cached files. */
  source: string;
  files: string[];
  totalRows: number;
  prompts: PromptInput[];
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

async function resolveTexts(opts: DatasetOptions): Promise<{ source: string; files: string[]; texts: string[] }> {
  const source = opts.source ?? BUILTIN_DATASET_ID;
  const column = opts.column ?? 'text';
  if (source === BUILTIN_DATASET_ID) return { source, files: [], texts: [...BUILTIN_PROMPTS] };
  if (await isFile(source)) return { source, files: [source], texts: await readTextColumn(source, column) };
  if (formatOf(source) !== null) throw new DatasetError(`dataset file ${source} does not exist`);
  // A local folder shaped like ORG/NAME (prompts/set1) is the user's, never a hub id to fetch.
  if (await isDirectory(source))
    throw new DatasetError(`dataset ${source} is a directory; name a .jsonl, .csv or .parquet file in it (a Hugging Face id is looked up only when no such local path exists)`);
  if (!isHubDatasetId(source))
    throw new DatasetError(`dataset "${source}" is neither a file nor a Hugging Face dataset id (ORG/NAME); use a .jsonl, .csv or .parquet path, an id such as AIEnergyScore/text_generation, or omit it for the built-in prompts`);
  let files = await findCachedDataset(source, opts.env);
  if (!files) {
    if (opts.allowDownload === false) throw new DatasetError(`dataset ${source} is ${await cacheMissReason(source, opts.env)}, and downloading is disabled`);
    files = await downloadDataset(source, { env: opts.env });
  }
  const texts: string[] = [];
  for (const f of files) texts.push(...(await readTextColumn(f, column)));
  return { source, files, texts };
}

export async function loadDataset(opts: DatasetOptions = {}): Promise<LoadedDataset> {
  const { source, files, texts } = await resolveTexts(opts);
  if (texts.length === 0) throw new DatasetError(`dataset ${source} has no rows`);
  const count = opts.count ?? texts.length;
  if (!Number.isInteger(count) || count < 1) throw new DatasetError(`prompt count must be a positive integer, got ${count}`);
  if (count > texts.length) throw new DatasetError(`asked for ${count} prompts but dataset ${source} has only ${texts.length}`);
  const indices = [...texts.keys()];
  const chosen = opts.sampling === 'random' ? shuffled(indices, seededRng(opts.seed ?? 0)).slice(0, count) : indices.slice(0, count);

  const max = opts.maxPromptTokens ?? null;
  if (max !== null && (!Number.isInteger(max) || max < 1)) throw new DatasetError(`max prompt tokens must be a positive integer, got ${max}`);
  if (max !== null && !opts.encode) throw new DatasetError('truncating prompts by tokens needs a tokenizer (encode function); none is available for this model');
  const prompts: PromptInput[] = [];
  for (const index of chosen) {
    const text = texts[index]!;
    if (max === null) {
      prompts.push({ index, text });
      continue;
    }
    const ids = await opts.encode!(text);
    if (ids.length <= max) prompts.push({ index, text });
    else if (opts.decode) prompts.push({ index, text: opts.decode(ids.slice(0, max)) });
    else prompts.push({ index, text, promptIds: ids.slice(0, max) });
  }
  return { source, files, totalRows: texts.length, prompts };
}
