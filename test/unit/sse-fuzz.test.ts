// Seeded fuzz of the SSE parser and the OpenAI stream processor: random valid event sequences
// with random line endings and fragmentation must parse to exactly the intended events; random
// corruptions must never throw and must parse the same however they are fragmented.

import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/sse/index.js';
import { OpenAIStreamProcessor } from '../../src/backends/openai/stream-processor.js';
import { buildRecord } from '../../src/backends/openai/record.js';
import { buildStream } from '../../src/backends/openai/emulator-script.js';
import { seededRng as mulberry32 } from '../../src/load/random.js';


const ALPHABET = ['a', 'b', 'z', ' ', ':', '{', '"', '}', 'data', '[DONE]', 'é', '世', '🎉', '\u0000', 'event', '\t'];
const EOLS = ['\n', '\r\n', '\r'] as const;
const enc = new TextEncoder();

interface Gen {
  text: string;
  events: SseEvent[];
}

function randomStream(rnd: () => number): Gen {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const word = (max: number): string => {
    let s = '';
    const n = Math.floor(rnd() * max);
    for (let i = 0; i < n; i++) s += pick(ALPHABET);
    return s;
  };
  let text = rnd() < 0.05 ? '\ufeff' : '';
  let prevEol = '';
  const line = (content: string): void => {
    let eol = pick(EOLS);
    // "x\r" followed by an empty line ending in "\n…" would read as one CRLF terminator.
    if (prevEol === '\r' && content === '' && eol[0] === '\n') eol = '\r';
    text += content + eol;
    prevEol = eol;
  };
  const events: SseEvent[] = [];
  let lastId: string | undefined;
  const nEvents = 1 + Math.floor(rnd() * 6);
  for (let e = 0; e < nEvents; e++) {
    if (rnd() < 0.3) line(`:${word(6)}`);
    let type = 'message';
    if (rnd() < 0.2) {
      type = `t${word(3)}`.replace(/[\u0000]/g, '');
      line(`event: ${type}`);
      if (type === '') type = 'message';
    }
    if (rnd() < 0.15) {
      const id = word(4).replace(/\u0000/g, '');
      line(`id: ${id}`);
      lastId = id;
    }
    const dataLines: string[] = [];
    const nData = 1 + Math.floor(rnd() * 3);
    for (let d = 0; d < nData; d++) {
      const value = word(10);
      dataLines.push(value);
      const spaced = value.startsWith(' ') || rnd() < 0.5;
      line(`${spaced ? 'data: ' : 'data:'}${value}`);
      if (rnd() < 0.1) line(`retry: ${Math.floor(rnd() * 1000)}`);
    }
    line('');
    events.push({ type, data: dataLines.join('\n'), id: lastId });
  }
  return { text, events };
}

function split(bytes: Uint8Array, rnd: () => number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const mode = rnd();
    const n = mode < 0.3 ? 1 : mode < 0.6 ? 1 + Math.floor(rnd() * 4) : 1 + Math.floor(rnd() * 64);
    parts.push(bytes.subarray(i, i + n));
    i += n;
  }
  if (rnd() < 0.2) parts.splice(Math.floor(rnd() * parts.length), 0, new Uint8Array(0));
  return parts;
}

function parse(parts: Uint8Array[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const part of parts) out.push(...p.feed(part));
  out.push(...p.end());
  return out;
}

function corrupt(bytes: Uint8Array, rnd: () => number): Uint8Array {
  const arr = Array.from(bytes);
  const ops = 1 + Math.floor(rnd() * 4);
  const special = [0x0d, 0x0a, 0x3a, 0xff, 0xc3, 0xe4, 0xf0, 0x80, 0x00, 0x7b, 0x22];
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rnd() * (arr.length + 1));
    const op = rnd();
    if (op < 0.25 && arr.length > 0) arr[Math.min(at, arr.length - 1)] = Math.floor(rnd() * 256);
    else if (op < 0.5) arr.splice(at, 0, special[Math.floor(rnd() * special.length)]!);
    else if (op < 0.7) arr.splice(at, 1 + Math.floor(rnd() * 8));
    else if (op < 0.85) arr.length = Math.min(arr.length, at);
    else arr.splice(at, 0, ...arr.slice(at, at + Math.floor(rnd() * 16)));
  }
  return Uint8Array.from(arr);
}

describe('SSE fuzz (seeded)', () => {
  it('10,000 valid streams, randomly fragmented, parse to the intended events', () => {
    const rnd = mulberry32(0xc0ffee);
    let events = 0;
    for (let n = 0; n < 10_000; n++) {
      const g = randomStream(rnd);
      const got = parse(split(enc.encode(g.text), rnd));
      if (JSON.stringify(got) !== JSON.stringify(g.events)) {
        expect({ stream: JSON.stringify(g.text), got }).toEqual({ stream: JSON.stringify(g.text), got: g.events });
      }
      events += got.length;
    }
    expect(events).toBeGreaterThan(20_000);
  });

  it('5,000 corrupted streams never throw and parse the same however fragmented', () => {
    const rnd = mulberry32(42);
    for (let n = 0; n < 5_000; n++) {
      const bytes = corrupt(enc.encode(randomStream(rnd).text), rnd);
      const whole = parse([bytes]);
      const pieces = parse(split(bytes, rnd));
      if (JSON.stringify(whole) !== JSON.stringify(pieces)) expect(pieces).toEqual(whole);
    }
  });

  it('1,500 valid and corrupted OpenAI streams through the stream processor: never throw, valid ones exact', () => {
    const rnd = mulberry32(7);
    let valid = 0;
    let failedCorrupt = 0;
    for (let n = 0; n < 1_500; n++) {
      const tokens = Array.from({ length: 1 + Math.floor(rnd() * 6) }, (_, i) => `w${i}é `);
      const reasoning = rnd() < 0.4 ? ['think', ' more'] : [];
      const built = buildStream({
        tokens,
        reasoning,
        tokensPerChunk: 1 + Math.floor(rnd() * 3),
        lineEnding: EOLS[Math.floor(rnd() * 3)]!,
        dataSpace: rnd() < 0.5,
        pings: rnd() < 0.3,
        multiLineData: rnd() < 0.2,
        continuousUsage: rnd() < 0.7,
      });
      const bytes = Buffer.concat(
        built.steps.map((s) => ('write' in s ? Buffer.from(s.write as string | Uint8Array) : Buffer.alloc(0))),
      );
      const isCorrupt = rnd() < 0.5;
      const input = isCorrupt ? corrupt(bytes, rnd) : bytes;
      const proc = new OpenAIStreamProcessor();
      let ns = 0n;
      for (const part of split(input, rnd)) {
        ns += 1000n;
        if (proc.feed(part, ns)) break;
      }
      proc.end(ns + 1n);
      const rec = buildRecord(proc, { index: n, enqueueNs: 0n, startNs: 0n, endNs: ns + 1n, httpStatus: 200 });
      expect(typeof rec.success).toBe('boolean');
      if (!isCorrupt) {
        valid++;
        expect(rec.success).toBe(true);
        expect(rec.text).toBe(built.expected.text);
        expect(rec.reasoningText ?? '').toBe(built.expected.reasoningText);
        expect(rec.completionTokens).toBe(built.expected.completionTokens);
        expect(rec.contentChunks).toBe(built.expected.contentChunks);
      } else if (!rec.success) {
        failedCorrupt++;
        expect(rec.error).toMatch(/\S/);
      }
    }
    expect(valid).toBeGreaterThan(500);
    expect(failedCorrupt).toBeGreaterThan(50);
  });
});
