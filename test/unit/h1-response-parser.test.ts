// The HTTP/1.1 response framing state machine (src/backends/openai/h1/response-parser.ts), fed
// exact bytes: framing, keep-alive decisions, fragmentation independence, zero-copy body views,
// and one clear 'error' per malformed response.

import { describe, expect, it } from 'vitest';
import { ResponseParser, type ResponseEvent, type ResponseHead } from '../../src/backends/openai/h1/response-parser.js';
import { seededRng, type Rng } from '../../src/load/random.js';

interface Parsed {
  heads: ResponseHead[];
  body: Buffer;
  ends: number;
  errors: string[];
  /** Event types in order ('body' runs collapsed), to check nothing follows 'end'/'error'. */
  order: string[];
  reusable: boolean;
  finished: boolean;
}

/** Feed `reads` one by one (then close the connection when `close`), collecting the events. */
function run(reads: Buffer[], close = false): Parsed {
  const parser = new ResponseParser();
  const out: ResponseEvent[] = [];
  for (const r of reads) parser.feed(r, out);
  if (close) parser.close(out);
  const heads: ResponseHead[] = [];
  const bodies: Buffer[] = [];
  const errors: string[] = [];
  const order: string[] = [];
  let ends = 0;
  for (const ev of out) {
    if (ev.type !== 'body' || order[order.length - 1] !== 'body') order.push(ev.type);
    if (ev.type === 'head') heads.push(ev.head);
    else if (ev.type === 'body') bodies.push(ev.bytes);
    else if (ev.type === 'end') ends++;
    else errors.push(ev.message);
  }
  return { heads, body: Buffer.concat(bodies), ends, errors, order, reusable: parser.reusable, finished: parser.finished };
}

const whole = (text: string | Buffer): Buffer[] => [typeof text === 'string' ? Buffer.from(text, 'latin1') : text];
const bytewise = (text: string | Buffer): Buffer[] => {
  const b = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return Array.from({ length: b.length }, (_, i) => b.subarray(i, i + 1));
};
/** Split into random pieces (1..maxPiece bytes); each piece is its own Buffer, as socket reads are. */
function randomSplits(bytes: Buffer, rng: Rng, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(rng() * maxPiece);
    out.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

/** The same response parsed whole, byte by byte and in random splits must give the same result. */
function parseEveryWay(text: string | Buffer, close = false, seed = 1): Parsed {
  const bytes = whole(text)[0]!;
  const ref = run(whole(bytes), close);
  const rng = seededRng(seed);
  for (const reads of [bytewise(bytes), randomSplits(bytes, rng, 3), randomSplits(bytes, rng, 17), randomSplits(bytes, rng, 200)]) {
    const got = run(reads, close);
    expect(got.heads).toEqual(ref.heads);
    expect(got.body.equals(ref.body)).toBe(true);
    expect(got.ends).toBe(ref.ends);
    expect(got.errors).toEqual(ref.errors);
    expect(got.order).toEqual(ref.order);
    expect(got.reusable).toBe(ref.reusable);
  }
  return ref;
}

function expectOk(p: Parsed, body: string): void {
  expect(p.errors).toEqual([]);
  expect(p.heads.length).toBe(1);
  expect(p.body.toString('latin1')).toBe(body);
  expect(p.ends).toBe(1);
  expect(p.order[p.order.length - 1]).toBe('end');
  expect(p.finished).toBe(true);
}

function expectOneError(p: Parsed, message: RegExp): void {
  expect(p.errors.length).toBe(1);
  expect(p.errors[0]).toMatch(message);
  expect(p.ends).toBe(0);
  expect(p.order[p.order.length - 1]).toBe('error');
  expect(p.finished).toBe(true);
  expect(p.reusable).toBe(false);
}

describe('status line and headers', () => {
  it('parses status, reason and headers with CRLF; names lower-cased, repeated headers joined', () => {
    const p = parseEveryWay(
      'HTTP/1.1 201 Created Now\r\nContent-Type: text/event-stream\r\nX-Multi: a\r\nx-multi:b\r\nX-EMPTY:\r\nContent-Length:   3  \r\n\r\nabc',
    );
    expectOk(p, 'abc');
    expect(p.heads[0]).toEqual({
      status: 201,
      statusText: 'Created Now',
      headers: { 'content-type': 'text/event-stream', 'x-multi': 'a, b', 'x-empty': '', 'content-length': '3' },
      keepAlive: true,
    });
    expect(p.reusable).toBe(true);
  });

  it('accepts bare LF line endings and a status line without reason phrase', () => {
    const p = parseEveryWay('HTTP/1.1 200\nCONTENT-LENGTH: 2\ncontent-type: x\n\nhi');
    expectOk(p, 'hi');
    expect(p.heads[0]!.status).toBe(200);
    expect(p.heads[0]!.statusText).toBe('');
    expect(p.heads[0]!.headers['content-length']).toBe('2');
    expect(p.reusable).toBe(true);
  });

  it('skips 1xx interim responses (100 Continue, 103 with headers) and reports the final head only', () => {
    const p = parseEveryWay(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody',
    );
    expectOk(p, 'body');
    expect(p.heads[0]!.status).toBe(200);
    expect(p.heads[0]!.headers).toEqual({ 'content-length': '4' });
  });

  it('a header named like an Object.prototype member ("constructor") keeps its own value', () => {
    // headers is a plain object and repeated-header detection uses `in`, which sees inherited
    // members: "Constructor: x" becomes "function Object() { [native code] }, x".
    const p = run(whole('HTTP/1.1 200 OK\r\nConstructor: x\r\nContent-Length: 0\r\n\r\n'));
    expect(p.heads[0]!.headers['constructor']).toBe('x');
  });
});

describe('body framing', () => {
  it('Content-Length: 0 ends at the head; reusable', () => {
    const p = parseEveryWay('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expectOk(p, '');
    expect(p.order).toEqual(['head', 'end']);
    expect(p.reusable).toBe(true);
  });

  it('204 and 304 carry no body even with a Content-Length or Transfer-Encoding', () => {
    for (const head of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n']) {
      const p = parseEveryWay(head);
      expectOk(p, '');
      expect(p.order).toEqual(['head', 'end']);
      expect(p.reusable).toBe(true);
    }
  });

  it('Content-Length body with CR/LF inside is taken by length', () => {
    const body = 'data: {"a":1}\r\n\r\n\n\r';
    const p = parseEveryWay(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expectOk(p, body);
    expect(p.reusable).toBe(true);
  });

  it('chunked body with extensions, upper/lower-case hex, bare LF and trailers (ignored)', () => {
    const data = 'x'.repeat(0x1a);
    const p = parseEveryWay(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        `5;name=value;flag\r\nhello\r\n1A ; q="a;b"\r\n${data}\r\n1\nZ\n` +
        '0;last=1\r\nX-Trailer: yes\r\nServer-Timing: t=1\r\n\r\n',
    );
    expectOk(p, `hello${data}Z`);
    expect(p.heads[0]!.headers['x-trailer']).toBeUndefined();
    expect(p.reusable).toBe(true);
  });

  it('chunk sizes up to 12 hex digits (leading zeros count), whitespace before the line end', () => {
    // Whole reads take the byte-level fast path, split reads the general line path: both agree.
    const p = parseEveryWay('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000005\r\nhello\r\n2 \t\r\nab\r\n0\r\n\r\n');
    expectOk(p, 'helloab');
  });

  it('Transfer-Encoding wins over Content-Length, and the connection then closes (RFC 9112 6.3); "gzip, chunked" is chunked', () => {
    const p = parseEveryWay('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    expectOk(p, 'ok');
    expect(p.reusable).toBe(false);
    const chunkedOnly = parseEveryWay('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    expectOk(chunkedOnly, 'ok');
    expect(chunkedOnly.reusable).toBe(true);
  });

  it('no length: the body runs until the connection closes and the connection is not reusable', () => {
    const p = parseEveryWay('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\ndata: [DONE]\n\n', true);
    expectOk(p, 'data: a\n\ndata: [DONE]\n\n');
    expect(p.reusable).toBe(false);
    const open = run(whole('HTTP/1.1 200 OK\r\n\r\npartial'));
    expect(open.finished).toBe(false);
    expect(open.ends).toBe(0);
    expect(open.body.toString()).toBe('partial');
  });

  it('a final coding other than chunked is delimited by close', () => {
    const p = parseEveryWay('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc', true);
    expectOk(p, 'abc');
    expect(p.reusable).toBe(false);
  });

  it('head.keepAlive is false for a body delimited by close (the connection cannot carry another request)', () => {
    const p = run(whole('HTTP/1.1 200 OK\r\n\r\nabc'), true);
    expect(p.reusable).toBe(false);
    expect(p.heads[0]!.keepAlive).toBe(false);
  });
});

describe('keep-alive', () => {
  const cases: [string, string, boolean][] = [
    ['HTTP/1.1 default', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', true],
    ['HTTP/1.1 Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx', false],
    ['HTTP/1.1 Connection: Keep-Alive, CLOSE', 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\nx', false],
    ['HTTP/1.0 default', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx', false],
    ['HTTP/1.0 Connection: keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx', true],
    ['HTTP/1.1 chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', true],
    ['HTTP/1.1 chunked, Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', false],
  ];
  it.each(cases)('%s → reusable %s', (_name, text, reusable) => {
    const p = parseEveryWay(text);
    expectOk(p, 'x');
    expect(p.reusable).toBe(reusable);
    expect(p.heads[0]!.keepAlive).toBe(reusable);
  });

  it('bytes after the end of the message (same read or a later read) make the connection not reusable', () => {
    const msg = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const same = run(whole(`${msg}HTTP/1.1 200 OK\r\n`));
    expectOk(same, 'ok');
    expect(same.reusable).toBe(false);
    const chunked = run(whole('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX'));
    expectOk(chunked, 'ok');
    expect(chunked.reusable).toBe(false);
    const later = run([...whole(msg), Buffer.from('junk')]);
    expectOk(later, 'ok');
    expect(later.reusable).toBe(false);
    const clean = run(whole(msg));
    expect(clean.reusable).toBe(true);
  });

  it('close() after a complete message adds nothing', () => {
    const p = run(whole('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), true);
    expectOk(p, 'ok');
    expect(p.reusable).toBe(true);
  });
});

describe('zero-copy body', () => {
  it('body events are views into the read that carried them', () => {
    const read = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', 'latin1');
    const lengthRead = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nvwxyz', 'latin1');
    const closeRead = Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil-close', 'latin1');
    for (const [bytes, body] of [[read, 'abcde'], [lengthRead, 'vwxyz'], [closeRead, 'until-close']] as const) {
      // A private ArrayBuffer so a view is recognisable by its buffer and offset.
      const ab = new ArrayBuffer(bytes.length);
      const buf = Buffer.from(ab);
      bytes.copy(buf);
      const parser = new ResponseParser();
      const out: ResponseEvent[] = [];
      parser.feed(buf, out);
      const bodies = out.filter((e): e is Extract<ResponseEvent, { type: 'body' }> => e.type === 'body');
      expect(bodies.length).toBeGreaterThan(0);
      for (const b of bodies) {
        expect(b.bytes.buffer).toBe(ab);
        // the view's bytes are the read's bytes at the same offset
        expect(buf.subarray(b.bytes.byteOffset, b.bytes.byteOffset + b.bytes.length).equals(b.bytes)).toBe(true);
      }
      // writing through the read is visible through the view: no copy was made
      const first = bodies[0]!.bytes;
      buf[first.byteOffset] = 0x21;
      expect(first[0]).toBe(0x21);
      expect(Buffer.concat(bodies.map((b) => b.bytes)).toString('latin1').slice(1)).toBe(body.slice(1));
    }
  });

  it('a body split across reads gives a view of each read', () => {
    const reads = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'), Buffer.from('cd'), Buffer.from('ef')];
    const parser = new ResponseParser();
    const out: ResponseEvent[] = [];
    const seen: Buffer[] = [];
    for (const r of reads) {
      parser.feed(r, out);
      for (const ev of out) if (ev.type === 'body') {
        expect(ev.bytes.buffer).toBe(r.buffer);
        expect(ev.bytes.byteOffset).toBeGreaterThanOrEqual(r.byteOffset);
        expect(ev.bytes.byteOffset + ev.bytes.length).toBeLessThanOrEqual(r.byteOffset + r.length);
        seen.push(ev.bytes);
      }
      out.length = 0;
    }
    expect(Buffer.concat(seen).toString()).toBe('abcdef');
  });
});

describe('malformed responses: one error event, then the parser stops', () => {
  const bad: [string, string, RegExp, boolean][] = [
    ['not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n', /^not an HTTP\/1\.x response \(status line: "SSH-2\.0-OpenSSH_9\.6"\)$/, false],
    ['HTTP/2 status line', 'HTTP/2 200\r\n\r\n', /not an HTTP\/1\.x response \(status line: "HTTP\/2 200"\)/, false],
    ['status code not 3 digits', 'HTTP/1.1 20 OK\r\n\r\n', /not an HTTP\/1\.x response/, false],
    ['header without colon', 'HTTP/1.1 200 OK\r\nContent-Length 3\r\n\r\nabc', /^malformed response header line "Content-Length 3"$/, false],
    ['header with empty name', 'HTTP/1.1 200 OK\r\n: x\r\n\r\n', /malformed response header line ": x"/, false],
    ['Content-Length not a number', 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nabc', /^invalid Content-Length "abc"$/, false],
    ['negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length "-1"/, false],
    ['fractional Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1.5\r\n\r\n', /invalid Content-Length "1\.5"/, false],
    ['invalid chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', /^invalid chunk size "zz"$/, false],
    ['empty chunk size line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', /invalid chunk size ""/, false],
    ['chunk size of 13 hex digits', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000005\r\nhello\r\n0\r\n\r\n', /^invalid chunk size "0000000000005"$/, false],
    ['bare CR after a chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n', /^invalid chunk size "5\\rhello"$/, false],
    ['negative chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n', /invalid chunk size "-5"/, false],
    ['chunk data longer than declared', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n', /^chunk data longer than its declared size$/, false],
    ['close before any byte', '', /^connection closed before any response byte$/, true],
    ['close mid status line', 'HTTP/1.1 20', /^connection closed inside the response head$/, true],
    ['close mid header line', 'HTTP/1.1 200 OK\r\nContent-Le', /^connection closed inside the response head$/, true],
    ['close mid Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd', /^connection closed with 6 byte\(s\) of the body missing$/, true],
    ['close mid chunk data', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', /^connection closed inside the chunked body$/, true],
    ['close mid chunk-size line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n1', /^connection closed inside the chunked body$/, true],
    ['close before the last chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n', /^connection closed inside the chunked body$/, true],
    ['close inside the trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n', /^connection closed inside the chunked body$/, true],
  ];
  it.each(bad)('%s', (_name, text, message, close) => {
    const p = parseEveryWay(text, close);
    expectOneError(p, message);
  });

  it('chunk data far longer than declared is named as such too', () => {
    const p = parseEveryWay(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n${'y'.repeat(200)}\r\n0\r\n\r\n`);
    expectOneError(p, /^chunk data longer than its declared size$/);
    expect(p.body.toString()).toBe('yyy');
  });

  it('after an error, more bytes and close() produce no events', () => {
    const parser = new ResponseParser();
    const out: ResponseEvent[] = [];
    // An invalid head is refused whole: no head event, one error.
    parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'), out);
    expect(out.map((e) => e.type)).toEqual(['error']);
    parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), out);
    parser.close(out);
    expect(out.map((e) => e.type)).toEqual(['error']);
    expect(parser.finished).toBe(true);
    expect(parser.reusable).toBe(false);
  });

  const headStart = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Fill: ';
  const oneLongLine = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`;
  const manyLines = `HTTP/1.1 200 OK\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${'b'.repeat(30)}\r\n`).join('')}\r\n`;
  const noNewline = 'x'.repeat(65 * 1024);

  it('a head longer than 64 KiB is an error (one long line, or no line end at all; whole or byte by byte)', () => {
    for (const text of [oneLongLine, noNewline]) {
      expectOneError(run(whole(text)), /^response head longer than \d+ bytes$/);
      expectOneError(run(bytewise(text)), /^response head longer than \d+ bytes$/);
    }
    expectOneError(run(whole(manyLines)), /^response head longer than \d+ bytes$/);
    // just under the limit is fine
    const fill = 'c'.repeat(64 * 1024 - headStart.length - 4);
    const p = parseEveryWay(`${headStart}${fill}\r\n\r\n`);
    expectOk(p, '');
    expect(p.heads[0]!.headers['x-fill']!.length).toBe(fill.length);
  });

  it('the 64 KiB head limit holds when the head arrives in pieces (many short lines, byte by byte)', () => {
    // readHead adds only `taken.next - before` (the bytes of the current read) to headBytes, so a
    // line assembled from earlier reads counts as 1 byte: fed byte by byte, this 80 KB head is
    // accepted, while the same bytes in one read are rejected.
    expectOneError(run(bytewise(manyLines)), /^response head longer than 65536 bytes$/);
  });

  it('the head-limit error names the limit (65536), not the budget left when it tripped', () => {
    // takeLine is given `MAX_HEAD_BYTES - headBytes` as its limit and prints it: one long line
    // reports "longer than 65519 bytes", many short lines "longer than 4 bytes".
    expectOneError(run(whole(oneLongLine)), /^response head longer than 65536 bytes$/);
    expectOneError(run(whole(manyLines)), /^response head longer than 65536 bytes$/);
  });

  it('close after a complete status line names the head, not "before any response byte"', () => {
    // pendingBytes is 0 right after a line is taken, so close() believes nothing arrived; the
    // transport then reports "request failed before a response: connection closed before any
    // response byte" although the server sent a status line.
    const p = run(whole('HTTP/1.1 200 OK\r\n'), true);
    expectOneError(p, /^connection closed inside the response head$/);
  });
});

describe('randomized valid responses (seeded)', () => {
  interface Built {
    bytes: Buffer;
    status: number;
    body: Buffer;
    reusable: boolean;
    closeDelimited: boolean;
  }

  function randomBytes(rng: Rng, n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      const r = rng();
      b[i] = r < 0.1 ? 0x0d : r < 0.2 ? 0x0a : Math.floor(rng() * 256);
    }
    return b;
  }

  function build(rng: Rng): Built {
    const eol = rng() < 0.5 ? '\r\n' : '\n';
    const status = [200, 200, 201, 400, 404, 500, 503][Math.floor(rng() * 7)]!;
    const body = randomBytes(rng, Math.floor(rng() * (rng() < 0.2 ? 3000 : 120)));
    const kind = rng();
    const minor = rng() < 0.85 ? '1' : '0';
    let keepAlive = minor === '1';
    const headers: string[] = [`Content-Type: text/event-stream`];
    if (rng() < 0.3) {
      headers.push(minor === '1' ? 'Connection: close' : 'Connection: keep-alive');
      keepAlive = !keepAlive;
    }
    for (let i = Math.floor(rng() * 4); i > 0; i--) headers.push(`X-R${i}: ${'v'.repeat(Math.floor(rng() * 40))}`);
    const interim = rng() < 0.1 ? `HTTP/1.1 100 Continue${eol}${eol}` : '';
    let framed: Buffer;
    let closeDelimited = false;
    if (kind < 0.45) {
      headers.push(`Content-Length: ${body.length}`);
      framed = body;
    } else if (kind < 0.9) {
      headers.push('Transfer-Encoding: chunked');
      const parts: Buffer[] = [];
      for (let i = 0; i < body.length; ) {
        const n = Math.min(body.length - i, 1 + Math.floor(rng() * 300));
        const hex = rng() < 0.5 ? n.toString(16) : n.toString(16).toUpperCase();
        const ext = rng() < 0.3 ? `;e${i}=${Math.floor(rng() * 100)}` : '';
        parts.push(Buffer.from(`${hex}${ext}${eol}`, 'latin1'), body.subarray(i, i + n), Buffer.from(eol, 'latin1'));
        i += n;
      }
      const trailers = rng() < 0.3 ? `X-Trailer: t${eol}` : '';
      parts.push(Buffer.from(`0${eol}${trailers}${eol}`, 'latin1'));
      framed = Buffer.concat(parts);
    } else {
      framed = body;
      closeDelimited = true;
      keepAlive = false;
    }
    const head = `${interim}HTTP/1.${minor} ${status} Some Reason${eol}${headers.join(eol)}${eol}${eol}`;
    return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), framed]), status, body, reusable: keepAlive, closeDelimited };
  }

  it('400 random chunked / length / close-delimited responses parse identically under random fragmentation', () => {
    const rng = seededRng(20261130);
    for (let n = 0; n < 400; n++) {
      const r = build(rng);
      for (const reads of [whole(r.bytes), randomSplits(r.bytes, rng, 1 + Math.floor(rng() * 64))]) {
        const p = run(reads, r.closeDelimited);
        expect(p.errors, `response ${n}`).toEqual([]);
        expect(p.heads.map((h) => h.status), `response ${n}`).toEqual([r.status]);
        expect(p.body.equals(r.body), `response ${n}: body`).toBe(true);
        expect(p.ends, `response ${n}`).toBe(1);
        expect(p.reusable, `response ${n}: reusable`).toBe(r.reusable);
      }
    }
  });
});
