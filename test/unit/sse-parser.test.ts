import { describe, expect, it } from 'vitest';
import { SseError, SseParser, type SseEvent } from '../../src/sse/index.js';

const enc = new TextEncoder();

function parseAll(chunks: (string | Uint8Array)[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.feed(typeof c === 'string' ? enc.encode(c) : c));
  out.push(...p.end());
  return out;
}

/** Every way of cutting the bytes in two or three pieces gives the same events. */
function expectSplitInvariant(text: string, expected: SseEvent[]): void {
  const bytes = enc.encode(text);
  expect(parseAll([bytes])).toEqual(expected);
  for (let i = 0; i <= bytes.length; i++) {
    expect(parseAll([bytes.subarray(0, i), bytes.subarray(i)])).toEqual(expected);
  }
  for (let i = 0; i <= bytes.length; i += 3) {
    for (let j = i; j <= bytes.length; j += 2) {
      expect(parseAll([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])).toEqual(expected);
    }
  }
  // one byte at a time
  expect(parseAll(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(expected);
}

const ev = (data: string, type = 'message', id?: string): SseEvent => ({ type, data, id });

describe('SseParser', () => {
  it('parses LF, CRLF and bare-CR streams identically', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = `data: one${eol}${eol}data: two${eol}${eol}`;
      expectSplitInvariant(text, [ev('one'), ev('two')]);
    }
  });

  it('treats a CR at the end of a read followed by LF at the start of the next as one terminator', () => {
    const p = new SseParser();
    expect(p.feed(enc.encode('data: a\r'))).toEqual([]);
    expect(p.feed(enc.encode('\n\r'))).toEqual([ev('a')]);
    expect(p.feed(enc.encode('\ndata: b\r\r'))).toEqual([ev('b')]);
  });

  it('keeps a pending CR across an empty read (partial UTF-8 byte)', () => {
    const p = new SseParser();
    expect(p.feed(enc.encode('data: a\r'))).toEqual([]);
    expect(p.feed(new Uint8Array(0))).toEqual([]);
    expect(p.feed(enc.encode('\n\n'))).toEqual([ev('a')]);
  });

  it('feedInto appends to the array it is given, leaving what it held', () => {
    const p = new SseParser();
    const out: SseEvent[] = [{ type: 'message', data: 'kept', id: undefined }];
    p.feedInto(Buffer.from('data: a\n\nda'), out);
    p.feedInto('ta: b\n\n', out);
    expect(out.map((e) => e.data)).toEqual(['kept', 'a', 'b']);
  });

  it('accepts data with or without the space and strips exactly one space', () => {
    expectSplitInvariant('data:x\n\ndata: y\n\ndata:  z\n\n', [ev('x'), ev('y'), ev(' z')]);
  });

  it('joins multi-line data with \\n', () => {
    expectSplitInvariant('data: {\ndata: "a": 1\ndata: }\n\n', [ev('{\n"a": 1\n}')]);
  });

  it('ignores comments and pings, counts them', () => {
    const p = new SseParser();
    const out = p.feed(enc.encode(': ping\n\n:\n: keep-alive\ndata: x\n\n'));
    expect(out).toEqual([ev('x')]);
    expect(p.comments).toBe(3);
  });

  it('dispatches an event for an empty data line, none for a blank line without data', () => {
    expectSplitInvariant('data:\n\n\n\nevent: foo\n\n', [ev('')]);
  });

  it('reads event types and ids, ignores retry and unknown fields', () => {
    expectSplitInvariant('event: error\nid: 7\nretry: 100\nfoo: bar\ndata: boom\n\ndata: next\n\n', [
      ev('boom', 'error', '7'),
      ev('next', 'message', '7'),
    ]);
  });

  it('handles a field without a colon as a field with an empty value', () => {
    expectSplitInvariant('data\n\n', [ev('')]);
  });

  it('decodes UTF-8 split inside a code point at every byte', () => {
    const text = 'data: héllo 世界 🎉 done\n\n';
    expectSplitInvariant(text, [ev('héllo 世界 🎉 done')]);
  });

  it('returns many events from one read', () => {
    const text = Array.from({ length: 100 }, (_, i) => `data: ${i}\n\n`).join('');
    const p = new SseParser();
    expect(p.feed(enc.encode(text)).map((e) => e.data)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });

  it('discards an event left incomplete at end of stream', () => {
    expect(parseAll(['data: a\n\ndata: b\n'])).toEqual([ev('a')]);
    expect(parseAll(['data: a\n\ndata: b'])).toEqual([ev('a')]);
  });

  it('strips a leading BOM and replaces invalid UTF-8 with U+FFFD without throwing', () => {
    expect(parseAll([Uint8Array.of(0xef, 0xbb, 0xbf), 'data: a\n\n'])).toEqual([ev('a')]);
    expect(parseAll([Uint8Array.of(0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0xfe, 0x0a, 0x0a)])).toEqual([ev('\ufffd\ufffd')]);
  });

  it('strips a BOM only at the stream start, however the reads split it', () => {
    const bom = '\ufeffdata: a\n\n';
    expectSplitInvariant(bom, [ev('a')]);
    // A U+FEFF later in the stream is content, also when it starts a read that needs the
    // streaming decoder (the read ends inside a multi-byte character) and after a fast-path start.
    const zwnbsp = enc.encode('data: x\n\ndata: \ufeffé\n\n');
    const cut = enc.encode('data: x\n\ndata: ').length;
    const last = zwnbsp.length - 3; // inside "é"
    expect(parseAll([zwnbsp.subarray(0, cut), zwnbsp.subarray(cut, last), zwnbsp.subarray(last)])).toEqual([ev('x'), ev('\ufeffé')]);
    // After end() the parser starts a new stream: its BOM is stripped again.
    const p = new SseParser();
    expect(p.feed(enc.encode('data: 1\n\n'))).toEqual([ev('1')]);
    p.end();
    expect(p.feed(enc.encode('\ufeffdata: 2\n\n'))).toEqual([ev('2')]);
  });

  it('accepts already-decoded strings', () => {
    const p = new SseParser();
    expect(p.feed('data: s\n\n')).toEqual([ev('s')]);
  });

  it('rejects an endless line with a typed error and recovers after reset', () => {
    const p = new SseParser({ maxLineLength: 16 });
    expect(() => p.feed(enc.encode('data: 0123456789abcdefghij'))).toThrow(SseError);
    expect(() => p.feed(enc.encode('x'.repeat(40)))).toThrow(expect.objectContaining({ code: 'SSE_LINE_TOO_LONG' }));
    p.reset();
    expect(p.feed(enc.encode('data: ok\n\n'))).toEqual([ev('ok')]);
  });
});
