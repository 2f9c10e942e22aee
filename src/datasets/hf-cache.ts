// Hugging Face dataset ids (ORG/NAME) resolved from the local hub cache, laid out the way the
// huggingface_hub library writes it: $HF_HUB_CACHE (or $HF_HOME/hub, or
// ~/.cache/huggingface/hub)/datasets--ORG--NAME/{refs/main, snapshots/<sha>/<files>}.
// When the dataset is not cached it is downloaded into that same layout (unless
// HF_HUB_OFFLINE is set or the network is unreachable, which gives a clear error).
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { DatasetError, formatOf } from './files.js';
import { makeDirectory } from '../util/make-directory.js';

const HF_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isHubDatasetId(s: string): boolean {
  return HF_ID.test(s) && formatOf(s) === null;
}

/** A leading `~` as huggingface_hub reads it (os.path.expanduser): a quoted "~/x" reaches us unexpanded. */
function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** huggingface_hub's order: HF_HUB_CACHE, its old name HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const hubCache = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (hubCache) return expandHome(hubCache);
  if (env.HF_HOME) return join(expandHome(env.HF_HOME), 'hub');
  return join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface', 'hub');
}

export function datasetRepoDir(id: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(hubCacheDir(env), `datasets--${id.replace('/', '--')}`);
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // Snapshot entries are symlinks into blobs/: follow them.
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(p).then((s) => s.isDirectory(), () => false)));
    if (isDir) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Data files of a snapshot, train split first, then by path. */
function rankDataFiles(files: string[], root: string): string[] {
  const data = files.filter((f) => formatOf(f) !== null && !relative(root, f).split(sep).some((s) => s.startsWith('.')));
  const score = (f: string) => {
    const rel = relative(root, f).toLowerCase();
    const word = (w: string) => new RegExp(`(^|[/_.-])${w}([/_.-]|$)`).test(rel);
    return (formatOf(f) === 'parquet' ? 0 : 10) + (word('train') ? 0 : 5) + (word('(test|valid|validation|dev)') ? 20 : 0);
  };
  return data.sort((a, b) => score(a) - score(b) || a.localeCompare(b));
}

/**
 * The split a data file belongs to: its folder plus its name without the shard suffix
 * (`train-00000-of-00002.parquet` → train; `default/train/0000.parquet` → the folder alone).
 */
function splitOf(file: string): string {
  const name = basename(file, extname(file)).replace(/-\d+-of-\d+$/, '');
  return `${dirname(file)}${sep}${/^\d+$/.test(name) ? '' : name}|${formatOf(file)}`;
}

/** All shards of the best-ranked file's split and format, in order: a split in several files is read whole, and only that split. */
function bestSplit(ranked: string[]): string[] {
  const split = splitOf(ranked[0]!);
  return ranked.filter((f) => splitOf(f) === split);
}

type CacheLookup = { files: string[]; why?: never } | { files: null; why: string };

/**
 * The cached data files of `id`: the snapshot refs/main names (as huggingface_hub reads the
 * cache offline), or the only snapshot when there is no refs/main. Never another revision:
 * `why` says what is missing instead.
 */
async function lookUpCache(id: string, env: NodeJS.ProcessEnv): Promise<CacheLookup> {
  const repo = datasetRepoDir(id, env);
  let snapshots: string[];
  try {
    snapshots = (await readdir(join(repo, 'snapshots'))).filter((s) => !s.startsWith('.'));
  } catch {
    return { files: null, why: `not in the Hugging Face cache (${hubCacheDir(env)})` };
  }
  const ref = await readFile(join(repo, 'refs', 'main'), 'utf8').then((s) => s.trim(), () => null);
  let snap: string;
  if (ref !== null && ref !== '') {
    if (!snapshots.includes(ref)) return { files: null, why: `in the Hugging Face cache, but refs/main names revision ${ref}, which is not under ${join(repo, 'snapshots')}` };
    snap = ref;
  } else if (snapshots.length === 1) {
    snap = snapshots[0]!;
  } else {
    return { files: null, why: `in the Hugging Face cache without refs/main, so which of its ${snapshots.length} revisions (${snapshots.join(', ')}) is current is unknown` };
  }
  const root = join(repo, 'snapshots', snap);
  const all = await walk(root);
  const files = rankDataFiles(all, root);
  if (files.length > 0) return { files: bestSplit(files) };
  const seen = all.map((f) => relative(root, f)).slice(0, 8);
  return {
    files: null,
    why: `in the Hugging Face cache (revision ${snap}) without .parquet/.jsonl/.csv files (it has: ${seen.join(', ') || 'nothing'}${all.length > seen.length ? ', …' : ''})`,
  };
}

/** The cached data files of `id`, or null when the dataset is not usable from the cache. */
export async function findCachedDataset(id: string, env: NodeJS.ProcessEnv = process.env): Promise<string[] | null> {
  return (await lookUpCache(id, env)).files;
}

/** Why findCachedDataset(id) is null, for messages. */
export async function cacheMissReason(id: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return (await lookUpCache(id, env)).why ?? 'in the Hugging Face cache';
}

interface HubInfo {
  sha: string;
  siblings: { rfilename: string }[];
}

/** Downloads the data files of `id` into the hub cache layout and returns their paths. */
export async function downloadDataset(id: string, opts: { env?: NodeJS.ProcessEnv; endpoint?: string; timeoutMs?: number } = {}): Promise<string[]> {
  const env = opts.env ?? process.env;
  if (env.HF_HUB_OFFLINE && env.HF_HUB_OFFLINE !== '0')
    throw new DatasetError(`dataset ${id} is ${await cacheMissReason(id, env)} and HF_HUB_OFFLINE is set; download it on a connected machine (e.g. \`huggingface-cli download --repo-type dataset ${id}\`) or pass a local file`);
  const endpoint = (opts.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const headers: Record<string, string> = env.HF_TOKEN ? { authorization: `Bearer ${env.HF_TOKEN}` } : {};
  const get = async (url: string) => {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
    } catch (e) {
      throw new DatasetError(`dataset ${id} is not in the Hugging Face cache (${hubCacheDir(env)}) and could not be downloaded from ${endpoint} (${(e as Error).message}); download it on a connected machine or pass a local file`);
    }
    if (!res.ok) throw new DatasetError(`downloading dataset ${id}: ${url} answered HTTP ${res.status}${res.status === 401 || res.status === 404 ? ' (unknown or gated dataset; set HF_TOKEN if it is gated)' : ''}`);
    return res;
  };
  const info = (await (await get(`${endpoint}/api/datasets/${id}`)).json()) as HubInfo;
  if (typeof info?.sha !== 'string' || !Array.isArray(info.siblings)) throw new DatasetError(`downloading dataset ${id}: unexpected answer from ${endpoint}/api/datasets/${id}`);
  const repo = datasetRepoDir(id, env);
  const snapshot = join(repo, 'snapshots', info.sha);
  const wanted = rankDataFiles(info.siblings.map((s) => join(snapshot, s.rfilename)), snapshot);
  if (wanted.length === 0) throw new DatasetError(`dataset ${id} has no .parquet/.jsonl/.csv files`);
  const chosen = bestSplit(wanted);
  // Shards land in a staging directory that becomes the snapshot only once all are here, so
  // an interrupted download never looks like a complete (but smaller) cached dataset.
  const staging = join(repo, `.incomplete-${info.sha}-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const rels = chosen.map((file) => relative(snapshot, file));
    for (const rel of rels) {
      const body = Buffer.from(await (await get(`${endpoint}/datasets/${id}/resolve/${info.sha}/${rel.split(sep).join('/')}`)).arrayBuffer());
      await makeDirectory(dirname(join(staging, rel)));
      await writeFile(join(staging, rel), body);
    }
    await makeDirectory(dirname(snapshot));
    try {
      await rename(staging, snapshot);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      // The snapshot directory exists (other files of the same revision): add ours to it.
      for (const rel of rels) {
        await makeDirectory(dirname(join(snapshot, rel)));
        await rename(join(staging, rel), join(snapshot, rel));
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  await makeDirectory(join(repo, 'refs'));
  await writeFile(join(repo, 'refs', 'main'), info.sha);
  return chosen;
}
