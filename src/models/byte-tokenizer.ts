// A byte-level tokenizer in the Hugging Face tokenizer.json format: one token per byte
// (GPT-2 byte-to-unicode alphabet, BPE with no merges) plus special tokens. Any text
// round-trips exactly; it is what the built-in default model speaks.

/** GPT-2's reversible byte → printable-character map. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return map;
}

export interface ByteTokenizerLayout {
  /** Special tokens before the byte block, in id order (e.g. <unk>, <s>, </s>). */
  leadingSpecials: readonly string[];
  /** Special tokens after the byte block, in id order. */
  trailingSpecials: readonly string[];
}

export interface ByteTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  vocabSize: number;
  /** Id of each special token. */
  specialIds: Record<string, number>;
  /** Id of byte 0 (byte b has id firstByteId + b). */
  firstByteId: number;
}

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };

export function buildByteTokenizer(layout: ByteTokenizerLayout): ByteTokenizerFiles {
  const vocab: Record<string, number> = {};
  const specialIds: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  let id = 0;
  const addSpecial = (content: string): void => {
    if (content in vocab) throw new Error(`byte tokenizer: duplicate special token ${content}`);
    vocab[content] = id;
    specialIds[content] = id;
    added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    id++;
  };
  layout.leadingSpecials.forEach(addSpecial);
  const firstByteId = id;
  for (const ch of byteToUnicode()) vocab[ch] = id++;
  layout.trailingSpecials.forEach(addSpecial);
  const unk = layout.leadingSpecials.includes('<unk>') ? '<unk>' : null;
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: BYTE_LEVEL,
      post_processor: null,
      decoder: BYTE_LEVEL,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: unk,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: [],
      },
    },
    vocabSize: id,
    specialIds,
    firstByteId,
  };
}
