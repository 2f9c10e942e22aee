import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { BUILTIN_PROMPTS } from '../../src/datasets/builtin.js';
import { findCachedDataset, hubCacheDir } from '../../src/datasets/hf-cache.js';
import { loadDataset } from '../../src/datasets/load.js';

const PARQUET = join(import.meta.dirname, '../fixtures/old-system/text_generation_sample.parquet');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeb-datasets-'));
});

it('defaults to the built-in prompt set (50 distinct prompts), first N in order', async () => {
  expect(BUILTIN_PROMPTS).toHaveLength(50);
  expect(new Set(BUILTIN_PROMPTS).size).toBe(50);
  const d = await loadDataset({ count: 3 });
  expect(d.source).toBe('builtin');
  expect(d.prompts).toEqual([0, 1, 2].map((i) => ({ index: i, text: BUILTIN_PROMPTS[i] })));
});

it('reads Parquet (hyparquet), JSONL and CSV with a text column', async () => {
  const pq = await loadDataset({ source: PARQUET, count: 4 });
  expect(pq.totalRows).toBe(12);
  expect(pq.prompts[3]!.text).toBe('User: How do I make a good cup of tea?\nAssistant: Start with freshly boiled water, then');
  const jsonl = join(dir, 'p.jsonl');
  await writeFile(jsonl, '{"prompt": "a, b", "x": 1}\r\n\n{"prompt": "second \\"quoted\\""}\n');
  expect((await loadDataset({ source: jsonl, column: 'prompt' })).prompts.map((p) => p.text)).toEqual(['a, b', 'second "quoted"']);
  const csv = join(dir, 'p.csv');
  await writeFile(csv, '\ufefftext,other\r\n"multi\nline, with comma",1\r\nplain,2\r\n');
  expect((await loadDataset({ source: csv })).prompts.map((p) => p.text)).toEqual(['multi\nline, with comma', 'plain']);
});

it('names the problem: missing column, bad JSON, missing file, too many prompts, unknown source', async () => {
  await expect(loadDataset({ source: PARQUET, column: 'prompt' })).rejects.toThrow(/no column "prompt" \(available: id, text\)/);
  const bad = join(dir, 'bad.jsonl');
  await writeFile(bad, '{"text": "ok"}\n{nope\n');
  await expect(loadDataset({ source: bad })).rejects.toThrow(/line 2 is not valid JSON/);
  await expect(loadDataset({ source: join(dir, 'missing.parquet') })).rejects.toThrow(/does not exist/);
  await expect(loadDataset({ source: PARQUET, count: 13 })).rejects.toThrow(/asked for 13 prompts but dataset .* has only 12/);
  await expect(loadDataset({ source: 'not a dataset' })).rejects.toThrow(/neither a file nor a Hugging Face dataset id/);
});

it('seeded random sampling is reproducible and differs from first-N', async () => {
  const a = await loadDataset({ source: PARQUET, count: 5, sampling: 'random', seed: 3 });
  const b = await loadDataset({ source: PARQUET, count: 5, sampling: 'random', seed: 3 });
  const c = await loadDataset({ source: PARQUET, count: 5, sampling: 'random', seed: 4 });
  expect(a.prompts).toEqual(b.prompts);
  expect(a.prompts.map((p) => p.index)).not.toEqual(c.prompts.map((p) => p.index));
  expect(a.prompts.map((p) => p.index)).not.toEqual([0, 1, 2, 3, 4]);
  expect(new Set(a.prompts.map((p) => p.index)).size).toBe(5);
});

it('truncates by tokens with the given tokenizer (text via decode, else promptIds)', async () => {
  const encode = (t: string) => [...t].map((ch) => ch.codePointAt(0)!);
  const decode = (ids: number[]) => String.fromCodePoint(...ids);
  const withDecode = await loadDataset({ count: 2, maxPromptTokens: 10, encode, decode });
  expect(withDecode.prompts[0]!.text).toBe(BUILTIN_PROMPTS[0]!.slice(0, 10));
  const idsOnly = await loadDataset({ count: 1, maxPromptTokens: 5, encode });
  expect(idsOnly.prompts[0]!.promptIds).toEqual(encode(BUILTIN_PROMPTS[0]!).slice(0, 5));
  await expect(loadDataset({ count: 1, maxPromptTokens: 5 })).rejects.toThrow(/needs a tokenizer/);
});

it('resolves a Hugging Face dataset id from the local hub cache (HF_HUB_CACHE / HF_HOME respected)', async () => {
  const home = join(dir, 'hfhome');
  const env = { HF_HOME: home };
  expect(hubCacheDir(env)).toBe(join(home, 'hub'));
  expect(hubCacheDir({ HF_HUB_CACHE: '/x/y', HF_HOME: home })).toBe('/x/y');
  expect(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/old/name', HF_HOME: home })).toBe('/old/name');
  expect(hubCacheDir({ HF_HUB_CACHE: '/x/y', HUGGINGFACE_HUB_CACHE: '/old/name' })).toBe('/x/y');
  expect(hubCacheDir({ HF_HOME: '~/hf' })).toBe(join(homedir(), 'hf', 'hub'));
  expect(hubCacheDir({ XDG_CACHE_HOME: '~/cache' })).toBe(join(homedir(), 'cache', 'huggingface', 'hub'));
  const repo = join(home, 'hub', 'datasets--AIEnergyScore--text_generation');
  const snap = join(repo, 'snapshots', 'abc123');
  await mkdir(join(snap, 'data'), { recursive: true });
  await mkdir(join(repo, 'refs'), { recursive: true });
  await writeFile(join(repo, 'refs', 'main'), 'abc123');
  await copyFile(PARQUET, join(snap, 'data', 'train-00000-of-00001.parquet'));
  await writeFile(join(snap, 'README.md'), '# card');
  expect(await findCachedDataset('AIEnergyScore/text_generation', env)).toEqual([join(snap, 'data', 'train-00000-of-00001.parquet')]);
  const d = await loadDataset({ source: 'AIEnergyScore/text_generation', count: 10, env, allowDownload: false });
  expect(d.prompts).toHaveLength(10);
  expect(d.prompts[0]!.text).toMatch(/^The history of the printing press/);
  await expect(loadDataset({ source: 'EnergyStarAI/text_generation', env: { ...env, HF_HUB_OFFLINE: '1' } })).rejects.toThrow(
    /not in the Hugging Face cache .* HF_HUB_OFFLINE is set/,
  );
});

it('downloads a hub dataset over HTTP into the hub cache layout; a failed download leaves no partial snapshot', async () => {
  const { createServer } = await import('node:http');
  let failShard = true;
  const shards: Record<string, string> = {
    'data/train-00000-of-00002.jsonl': '{"text": "first"}\n{"text": "second"}\n',
    'data/train-00001-of-00002.jsonl': '{"text": "third"}\n',
  };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/api/datasets/org/tiny') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sha: 'abc123', siblings: [...Object.keys(shards), 'README.md'].map((rfilename) => ({ rfilename })) }));
      return;
    }
    const m = /^\/datasets\/org\/tiny\/resolve\/abc123\/(.+)$/.exec(url);
    const body = m ? shards[m[1]!] : undefined;
    if (body === undefined || (failShard && m![1]!.includes('00001'))) {
      res.statusCode = 500;
      res.end('no');
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    const env = { HF_HUB_CACHE: join(dir, 'dl-cache'), HF_ENDPOINT: `http://127.0.0.1:${port}` };
    await expect(loadDataset({ source: 'org/tiny', env })).rejects.toThrow(/org\/tiny: .*answered HTTP 500/);
    expect(await findCachedDataset('org/tiny', env)).toBeNull(); // first shard alone is not a dataset

    failShard = false;
    const d = await loadDataset({ source: 'org/tiny', env });
    expect(d.prompts.map((p) => p.text)).toEqual(['first', 'second', 'third']);
    expect(d.files.map((f) => f.slice(hubCacheDir(env).length))).toEqual(Object.keys(shards).map((k) => `/datasets--org--tiny/snapshots/abc123/${k}`));
    await new Promise<void>((r) => server.close(() => r()));
    expect((await loadDataset({ source: 'org/tiny', env, allowDownload: false })).totalRows).toBe(3); // served from the cache
  } finally {
    server.close();
  }
});
