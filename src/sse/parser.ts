// Server-sent events parser: a pure feed()/end() state machine over bytes, following the
// WHATWG "event stream interpretation" rules. It never throws on malformed input (bad UTF-8
// becomes U+FFFD, unknown fields are ignored); the only error is the line-length guard.
//
// Invariants:
// - The result of feeding a byte stream does not depend on how it is split into chunks
//   (UTF-8 sequences, CRLF pairs and lines may be split anywhere).
// - Line terminators are LF, CRLF or a bare CR; an empty line dispatches the pending event.
// - An event is dispatched only if at least one `data` field was seen; its data lines are
//   joined with "\n". An event left incomplete at end() is discarded (as the spec says).

import { TextDecoder } from 'node:util';

export interface SseEvent {
  /** The `event:` field, or "message" when absent. */
  type: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** Last event id seen so far in the stream (`id:` field), if any. */
  id: string | undefined;
}

export class SseError extends Error {
  readonly code: 'SSE_LINE_TOO_LONG';
  constructor(code: 'SSE_LINE_TOO_LONG', message: string) {
    super(message);
    this.name = 'SseError';
    this.code = code;
  }
}

export interface SseParserOptions {
  /** Longest line accepted before SseError('SSE_LINE_TOO_LONG') (characters). Default 16 Mi. */
  maxLineLength?: number;
}

const LF = 10;
const CR = 13;

export class SseParser {
  private readonly maxLineLength: number;
  /**
   * Created on first need (most streams are decoded by the fast path alone: one parser per
   * request, and at high concurrency every per-request object costs GC time).
   */
  private decoder: TextDecoder | null = null;
  /** The decoder may hold part of a UTF-8 sequence (or the stream start / BOM is not behind us yet). */
  private decoderBusy = true;
  /** No byte of the stream seen yet. */
  private atStart = true;
  /** Undelimited tail of the input (a partial line). */
  private tail = '';
  /** The previous chunk ended with CR: an LF at the start of the next one belongs to it. */
  private skipLeadingLF = false;
  private eventType = '';
  private firstData: string | null = null;
  private moreData: string[] | null = null;
  private lastId: string | undefined = undefined;
  /** Comment lines seen (`:` pings), for diagnostics. */
  comments = 0;

  constructor(options: SseParserOptions = {}) {
    this.maxLineLength = options.maxLineLength ?? 16 * 1024 * 1024;
  }

  /** Feed the next bytes (or already-decoded text); returns the events they complete. */
  feed(chunk: Uint8Array | string): SseEvent[] {
    const out: SseEvent[] = [];
    this.feedInto(chunk, out);
    return out;
  }

  /** As feed(), appending the events to `out` (a caller's reused array saves one per read). */
  feedInto(chunk: Uint8Array | string, out: SseEvent[]): void {
    this.scan(typeof chunk === 'string' ? chunk : this.decode(chunk), out);
  }

  /**
   * UTF-8 decoding. Fast path (Buffer#toString, same replacement rules as TextDecoder): the
   * decoder holds nothing and the read ends on an ASCII byte, so no sequence is cut. Otherwise
   * the streaming TextDecoder carries the partial sequence (and strips a BOM at stream start).
   */
  private decode(bytes: Uint8Array): string {
    const n = bytes.length;
    if (n === 0) return '';
    if (this.atStart) {
      this.atStart = false;
      // Only a stream starting with 0xEF can start with a BOM (EF BB BF, possibly split).
      if (bytes[0] !== 0xef) this.decoderBusy = false;
      else this.decoder = new TextDecoder('utf-8');
    }
    if (!this.decoderBusy && bytes[n - 1]! < 0x80) {
      return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, n)).toString('utf8');
    }
    // Past the stream start, a U+FEFF is content: a decoder made now must not strip it.
    this.decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
    const text = this.decoder.decode(bytes, { stream: true });
    this.decoderBusy = bytes[n - 1]! >= 0x80;
    return text;
  }

  /** End of stream: flush the decoder; a trailing event without its blank line is discarded. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const rest = this.decoder?.decode() ?? '';
    if (rest.length > 0) this.scan(rest, out);
    // A final unterminated line is processed as a line (it may complete a field), but the
    // event it belongs to is never dispatched without a blank line.
    if (this.tail.length > 0) {
      this.processLine(this.tail, out);
      this.tail = '';
    }
    this.resetEvent();
    this.resetDecoding();
    this.skipLeadingLF = false;
    return out;
  }

  /** Forget all state (new stream). */
  reset(): void {
    this.resetDecoding();
    this.tail = '';
    this.skipLeadingLF = false;
    this.resetEvent();
    this.lastId = undefined;
    this.comments = 0;
  }

  private resetDecoding(): void {
    this.decoder = null;
    this.decoderBusy = true;
    this.atStart = true;
  }

  private scan(text: string, out: SseEvent[]): void {
    if (text.length === 0) return;
    let s = text;
    let pos = 0;
    if (this.skipLeadingLF) {
      this.skipLeadingLF = false;
      if (s.charCodeAt(0) === LF) pos = 1;
    }
    if (this.tail.length > 0) {
      s = this.tail + s.slice(pos);
      pos = 0;
      this.tail = '';
    }
    const len = s.length;
    let cr = s.indexOf('\r', pos);
    let lf = s.indexOf('\n', pos);
    while (pos < len) {
      if (cr !== -1 && cr < pos) cr = s.indexOf('\r', pos);
      if (lf !== -1 && lf < pos) lf = s.indexOf('\n', pos);
      let end: number;
      if (cr === -1) {
        if (lf === -1) break;
        end = lf;
      } else {
        end = lf === -1 || cr < lf ? cr : lf;
      }
      this.processLine(s.slice(pos, end), out);
      if (s.charCodeAt(end) === CR) {
        if (end + 1 < len) {
          pos = s.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
        } else {
          pos = end + 1;
          this.skipLeadingLF = true;
        }
      } else {
        pos = end + 1;
      }
    }
    if (pos < len) {
      if (len - pos > this.maxLineLength) {
        this.reset();
        throw new SseError('SSE_LINE_TOO_LONG', `SSE line longer than ${this.maxLineLength} characters`);
      }
      this.tail = pos === 0 ? s : s.slice(pos);
    }
  }

  private processLine(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.comments++;
      return;
    }
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const start = line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = line.slice(start);
    }
    switch (field) {
      case 'data':
        if (this.firstData === null) this.firstData = value;
        else (this.moreData ??= []).push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // `retry` and unknown fields carry nothing a client of ours needs.
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.firstData !== null) {
      const data = this.moreData === null ? this.firstData : this.firstData + '\n' + this.moreData.join('\n');
      out.push({ type: this.eventType === '' ? 'message' : this.eventType, data, id: this.lastId });
    }
    this.resetEvent();
  }

  private resetEvent(): void {
    this.eventType = '';
    this.firstData = null;
    this.moreData = null;
  }
}
