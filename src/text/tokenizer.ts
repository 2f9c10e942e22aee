// Hugging Face tokenizer loading (tokenizer.json + tokenizer_config.json) over the pure-JS
// @huggingface/tokenizers library. This module owns the bos/eos policy: the
// tokenizer_config.json flags (add_bos_token / add_eos_token) win over the post-processor in
// tokenizer.json, as in transformers' fast Llama tokenizers.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export interface TokenizerConfig {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: unknown;
  eos_token?: unknown;
  unk_token?: unknown;
  pad_token?: unknown;
  chat_template?: unknown;
  clean_up_tokenization_spaces?: boolean;
  [key: string]: unknown;
}

export interface EncodeOptions {
  /**
   * Add bos/eos as the model's tokenizer_config.json says (default true). Chat-template output
   * already carries its special tokens as text and is encoded with `false`, like transformers'
   * apply_chat_template.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (eos, bos, pad, …) from the text (default true). */
  skipSpecialTokens?: boolean;
}

export class TokenizerLoadError extends Error {
  readonly code = 'TOKENIZER_LOAD_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenizerLoadError';
  }
}

/** A special-token field of tokenizer_config.json: a string, an AddedToken object or null. */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

export class TextTokenizer {
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** Ids of every added token flagged `special` (skipped when decoding with skipSpecialTokens). */
  readonly specialIds: ReadonlySet<number>;
  readonly vocabSize: number;
  private readonly cleanUpSpaces: boolean;

  constructor(
    private readonly impl: Tokenizer,
    readonly config: TokenizerConfig,
    readonly source: string,
  ) {
    this.bosToken = specialTokenContent(config.bos_token);
    this.eosToken = specialTokenContent(config.eos_token);
    this.bosId = this.bosToken === undefined ? undefined : impl.token_to_id(this.bosToken);
    this.eosId = this.eosToken === undefined ? undefined : impl.token_to_id(this.eosToken);
    if (config.add_bos_token === true && this.bosId === undefined) {
      throw new TokenizerLoadError(`${source}: add_bos_token is true but bos_token ${JSON.stringify(this.bosToken ?? null)} is not in the vocabulary`);
    }
    const special = new Set<number>();
    for (const [id, token] of impl.get_added_tokens_decoder()) if (token.special) special.add(id);
    this.specialIds = special;
    this.vocabSize = impl.get_vocab(true).size;
    // transformers defaults to no clean-up for modern tokenizers; clean-up breaks round trips.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode: text must be a string, got ${typeof text}`);
    const addSpecial = options.addSpecialTokens ?? true;
    const controlled = this.config.add_bos_token !== undefined || this.config.add_eos_token !== undefined;
    if (!addSpecial || !controlled) {
      if (text.length === 0 && !addSpecial) return [];
      return this.checked(text, this.impl.encode(text, { add_special_tokens: addSpecial }).ids);
    }
    const ids = text.length === 0 ? [] : this.checked(text, this.impl.encode(text, { add_special_tokens: false }).ids);
    if (this.config.add_bos_token === true && this.bosId !== undefined) ids.unshift(this.bosId);
    if (this.config.add_eos_token === true && this.eosId !== undefined) ids.push(this.eosId);
    return ids;
  }

  /** A tokenizer file whose vocabulary lacks a piece (no unk token) yields null ids: refuse them. */
  private checked(text: string, ids: number[]): number[] {
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0);
    if (bad >= 0) {
      throw new TokenizerLoadError(
        `${this.source}: encoding ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} gave token ${bad} the id ${String(ids[bad])}: ` +
          'the vocabulary has no entry for a piece of it and no unknown token');
    }
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new RangeError(`decode: token id ${id} is not a non-negative integer`);
    }
    // Ids with no token (checkpoints pad their embedding past the tokenizer's vocabulary)
    // decode to nothing, as in the Rust tokenizers, instead of failing mid-stream.
    const known = ids.filter((id) => this.impl.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.impl.decode(known, {
      skip_special_tokens: options.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.impl.id_to_token(id);
  }
}

async function readJson(path: string, what: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerLoadError(`cannot read ${what} at ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new TokenizerLoadError(`${what} at ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TokenizerLoadError(`${what} at ${path} must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Reads tokenizer_config.json from a model directory ({} when the file is absent). */
export async function readTokenizerConfig(dir: string): Promise<TokenizerConfig> {
  return ((await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json', false)) ?? {}) as TokenizerConfig;
}

const SUPPORTED_MODEL_TYPES = ['BPE', 'Unigram', 'WordPiece'];

/** Loads `dir/tokenizer.json` (required) with `dir/tokenizer_config.json` (optional). */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = join(dir, 'tokenizer.json');
  const json = await readJson(path, 'tokenizer.json', true);
  const config = await readTokenizerConfig(dir);
  if (!json!.model || typeof json!.model !== 'object') {
    throw new TokenizerLoadError(`tokenizer.json at ${path} has no "model" section (is it a Hugging Face fast tokenizer file?)`);
  }
  // The models @huggingface/tokenizers implements; it would run any other type as a pass-through.
  const type = (json!.model as { type?: unknown }).type;
  if (type !== undefined && !SUPPORTED_MODEL_TYPES.includes(type as string)) {
    throw new TokenizerLoadError(`tokenizer.json at ${path} has model type ${JSON.stringify(type)}; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
  let impl: Tokenizer;
  try {
    impl = new Tokenizer(json!, config);
  } catch (err) {
    throw new TokenizerLoadError(`cannot build the tokenizer from ${path}: ${(err as Error).message}`, { cause: err });
  }
  return new TextTokenizer(impl, config, path);
}
