import { beforeAll, describe, expect, it } from 'vitest';
import { StreamDecoder, type DecodeStep } from '../../src/text/detokenizer.js';
import { loadTokenizer, type TextTokenizer } from '../../src/text/tokenizer.js';
import { MULTILINGUAL, QWEN3_DIR } from '../fixtures/text/paths.js';

function streamAll(decoder: StreamDecoder, ids: readonly number[]): { deltas: string[]; last: DecodeStep } {
  const deltas: string[] = [];
  let last: DecodeStep = { delta: '', stopped: false };
  for (const id of ids) {
    last = decoder.push(id);
    deltas.push(last.delta);
    if (last.stopped) return { deltas, last };
  }
  last = decoder.finish();
  deltas.push(last.delta);
  return { deltas, last };
}

describe('StreamDecoder over the Qwen3 byte-level BPE', () => {
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(QWEN3_DIR);
  });

  it.each(MULTILINGUAL)('deltas concatenate to the full decoded text for %j', (text) => {
    const ids = tok.encode(text);
    const { deltas } = streamAll(new StreamDecoder(tok), ids);
    expect(deltas.join('')).toBe(tok.decode(ids));
    for (const d of deltas) expect(d).not.toContain('\uFFFD');
  });

  it('emits a multi-byte emoji split over several tokens once, whole', () => {
    const ids = tok.encode(' 🎉 ok');
    // The fixture really splits the emoji: single-token decodes are not valid UTF-8.
    expect(ids.some((id) => tok.decode([id]).includes('\uFFFD'))).toBe(true);
    const decoder = new StreamDecoder(tok);
    const deltas = ids.map((id) => decoder.push(id).delta);
    expect(deltas.filter((d) => d.includes('🎉'))).toEqual([' 🎉']);
    expect(deltas.filter((d) => d === '').length).toBeGreaterThan(0);
    expect(decoder.text + decoder.finish().delta).toBe(' 🎉 ok');
  });

  it('stops on an eos id without emitting its text', () => {
    const eos = tok.eosId!;
    const decoder = new StreamDecoder(tok, { eosIds: [eos] });
    const { deltas, last } = streamAll(decoder, [...tok.encode('done.'), eos, ...tok.encode('never')]);
    expect(last).toMatchObject({ stopped: true, stopReason: 'eos', stopId: eos });
    expect(deltas.join('')).toBe('done.');
    expect(() => decoder.push(1)).toThrow(/after the stream stopped \(eos\)/);
  });

  it('stops on a stop string spanning several tokens, keeps the text before it, reports where', () => {
    const text = 'The answer is 42.\nUser: more please';
    const ids = tok.encode(text);
    const stop = '\nUser:';
    // The stop string covers more than one token of this encoding.
    expect(tok.encode(stop).length).toBeGreaterThan(1);
    const decoder = new StreamDecoder(tok, { stopStrings: [stop, 'unrelated'] });
    const { deltas, last } = streamAll(decoder, ids);
    expect(last).toMatchObject({ stopped: true, stopReason: 'stop_string', stopString: stop, stopIndex: text.indexOf(stop) });
    expect(deltas.join('')).toBe('The answer is 42.');
    // Held-back text never leaked the beginning of the stop string.
    for (const d of deltas) expect(d).not.toContain('\n');
  });

  it('releases text held for a possible stop string when it turns out not to match', () => {
    const text = 'a\nUsefully done';
    const { deltas, last } = streamAll(new StreamDecoder(tok, { stopStrings: ['\nUser:'] }), tok.encode(text));
    expect(last.stopReason).toBe('end');
    expect(deltas.join('')).toBe(text);
  });

  it('prefers the earliest stop string', () => {
    const text = 'alpha beta gamma';
    const { deltas, last } = streamAll(new StreamDecoder(tok, { stopStrings: ['gamma', 'beta'] }), tok.encode(text));
    expect(last).toMatchObject({ stopString: 'beta', stopIndex: 6 });
    expect(deltas.join('')).toBe('alpha ');
  });

  it('flushes genuinely incomplete bytes at finish as U+FFFD', () => {
    const ids = tok.encode(' 🎉');
    expect(ids.length).toBeGreaterThan(1);
    const decoder = new StreamDecoder(tok);
    const partial = ids.slice(0, -1).map((id) => decoder.push(id).delta).join('');
    expect(partial).toBe('');
    expect(decoder.finish()).toMatchObject({ delta: ' \uFFFD', stopReason: 'end' });
  });

  it('skips special tokens by default and keeps them on request', () => {
    const ids = tok.encode('<|im_start|>assistant\nhi<|im_end|>', { addSpecialTokens: false });
    expect(streamAll(new StreamDecoder(tok), ids).deltas.join('')).toBe('assistant\nhi');
    expect(streamAll(new StreamDecoder(tok, { skipSpecialTokens: false }), ids).deltas.join('')).toBe('<|im_start|>assistant\nhi<|im_end|>');
  });

  it('validates its inputs', () => {
    expect(() => new StreamDecoder(tok, { stopStrings: [''] })).toThrow(/non-empty/);
    expect(() => new StreamDecoder(tok).push(-1)).toThrow(/token id -1/);
  });
});
