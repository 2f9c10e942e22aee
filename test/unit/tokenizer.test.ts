import { mkdtemp, writeFile, cp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type TextTokenizer } from '../../src/text/tokenizer.js';
import { GPTOSS_DIR, MULTILINGUAL, QWEN3_DIR } from '../fixtures/text/paths.js';

describe('loadTokenizer (Qwen3 bundle)', () => {
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(QWEN3_DIR);
  });

  it.each(MULTILINGUAL)('round-trips %j', (text) => {
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan(0);
    expect(tok.decode(ids)).toBe(text);
  });

  it('adds no bos (add_bos_token false, bos_token null) and knows its eos', () => {
    expect(tok.bosId).toBeUndefined();
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.eosId).toBe(tok.tokenToId('<|im_end|>'));
    expect(tok.encode('Hi')).toEqual(tok.encode('Hi', { addSpecialTokens: false }));
  });

  it('encodes added tokens as single ids and keeps non-special ones when decoding', () => {
    const imStart = tok.tokenToId('<|im_start|>')!;
    const think = tok.tokenToId('<think>')!;
    const ids = tok.encode('<|im_start|>user\n<think>x</think>', { addSpecialTokens: false });
    expect(ids[0]).toBe(imStart);
    expect(ids).toContain(think);
    expect(tok.specialIds.has(imStart)).toBe(true);
    expect(tok.specialIds.has(think)).toBe(false);
    expect(tok.decode(ids)).toBe('user\n<think>x</think>');
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe('<|im_start|>user\n<think>x</think>');
  });

  it('decodes ids past the vocabulary (embedding padding) to nothing', () => {
    const hi = tok.encode('hi');
    expect(tok.decode([...hi, 151_900])).toBe('hi');
    expect(tok.decode([151_900])).toBe('');
  });

  it('rejects bad ids with a clear error', () => {
    expect(() => tok.decode([1, -3])).toThrow(/token id -3/);
    expect(() => tok.decode([1.5])).toThrow(/token id 1.5/);
  });
});

describe('loadTokenizer (gpt-oss bundle)', () => {
  it('round-trips multilingual text and maps harmony specials', async () => {
    const tok = await loadTokenizer(GPTOSS_DIR);
    for (const text of MULTILINGUAL) expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.eosToken).toBe('<|return|>');
    expect(tok.tokenToId('<|start|>')).toBe(200006);
    expect(tok.encode('<|start|>user<|message|>', { addSpecialTokens: false })[0]).toBe(200006);
  });
});

describe('bos handling from tokenizer_config.json', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeb-tok-'));
    await cp(join(QWEN3_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prepends bos when add_bos_token is true and appends eos when add_eos_token is true', async () => {
    await writeFile(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ add_bos_token: true, add_eos_token: true, bos_token: { content: '<|endoftext|>' }, eos_token: '<|im_end|>' }),
    );
    const tok = await loadTokenizer(dir);
    const plain = tok.encode('Hi', { addSpecialTokens: false });
    expect(tok.encode('Hi')).toEqual([tok.tokenToId('<|endoftext|>'), ...plain, tok.tokenToId('<|im_end|>')]);
    expect(tok.decode(tok.encode('Hi'))).toBe('Hi');
  });

  it('fails clearly when add_bos_token names a token that does not exist', async () => {
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, bos_token: '<nope>' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/bos_token "<nope>" is not in the vocabulary/);
  });

  it('names the missing or broken file', async () => {
    await expect(loadTokenizer(join(dir, 'missing'))).rejects.toThrow(/cannot read tokenizer.json at .*missing/);
    await writeFile(join(dir, 'tokenizer_config.json'), '{oops');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer_config.json .* is not valid JSON/);
  });

  const bare = { version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null };
  it('refuses a tokenizer model type the library does not implement (it would pass text through as ids)', async () => {
    const sub = await mkdtemp(join(dir, 'wordlevel-'));
    await writeFile(join(sub, 'tokenizer.json'), JSON.stringify({ ...bare, model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: 'a' } }));
    await expect(loadTokenizer(sub)).rejects.toThrow(/has model type "WordLevel"; supported: BPE, Unigram, WordPiece/);
  });

  it('refuses to return a missing id when the vocabulary lacks a piece (its unknown token is not in it either)', async () => {
    const sub = await mkdtemp(join(dir, 'no-unk-'));
    await writeFile(join(sub, 'tokenizer.json'), JSON.stringify({
      ...bare, model: { type: 'WordPiece', vocab: { a: 0, b: 1 }, unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100 },
    }));
    const tok = await loadTokenizer(sub);
    expect(() => tok.encode('abc')).toThrow(/encoding "abc" gave token 0 the id undefined: the vocabulary has no entry for a piece of it/);
  });
});
