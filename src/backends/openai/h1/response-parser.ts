// HTTP/1.1 response framing as a pure state machine: feed the bytes of one read, get the
// response head, body slices and the end of the message. Written for the streaming transport,
// whose reads are stamped on arrival: body slices are views into the read that carried them
// (no copies), so the caller knows which stamp every body byte has.
//
// Covers what servers send to a client: status line, headers (CRLF or bare LF), 1xx interim
// responses (skipped), Content-Length, Transfer-Encoding: chunked (extensions and trailers
// ignored), and bodies delimited by connection close. Never throws on server input: malformed
// framing becomes an 'error' event and the parser stops.

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
}

export type ResponseEvent =
  | { type: 'head'; head: ResponseHead }
  | { type: 'body'; bytes: Buffer }
  | { type: 'end' }
  /** `closed`: the connection ended early; otherwise the bytes broke HTTP framing. */
  | { type: 'error'; message: string; closed: boolean };

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;

/** Longest head (status line + headers) accepted. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size line (hex size + extensions) accepted. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

const CR = 0x0d;
const LF = 0x0a;
/** Most hex digits in a chunk size (2^48 bytes; the general path's regex has the same bound). */
const MAX_CHUNK_SIZE_DIGITS = 12;

/** The size plainChunkSize() read (a module slot, not an object per chunk). */
let chunkSizeValue = 0;

/**
 * The common chunk-size line, read from the bytes without making a string: 1–12 hex digits,
 * then CRLF or LF, all inside this read. Returns the position after the LF and leaves the
 * size in chunkSizeValue; -1 for anything else (extensions, whitespace, a line cut by the end
 * of the read, bad digits), which the general line path then handles or reports.
 */
function plainChunkSize(bytes: Buffer, pos: number): number {
  let value = 0;
  let i = pos;
  const end = Math.min(bytes.length, pos + MAX_CHUNK_SIZE_DIGITS);
  for (; i < end; i++) {
    const b = bytes[i]!;
    let digit: number;
    if (b >= 0x30 && b <= 0x39) digit = b - 0x30;
    else if (b >= 0x61 && b <= 0x66) digit = b - 0x57;
    else if (b >= 0x41 && b <= 0x46) digit = b - 0x37;
    else break;
    value = value * 16 + digit;
  }
  if (i === pos || i >= bytes.length) return -1;
  if (bytes[i] === CR) i++;
  if (i >= bytes.length || bytes[i] !== LF) return -1;
  chunkSizeValue = value;
  return i + 1;
}

type State =
  | 'head' // reading the status line and headers
  | 'length' // Content-Length body
  | 'chunk-size' // chunked: size line
  | 'chunk-data'
  | 'chunk-data-end' // CRLF after the data
  | 'trailers'
  | 'until-close'
  | 'done'
  | 'failed';

export class ResponseParser {
  private state: State = 'head';
  /** Pending bytes of an unfinished head or chunk-size/trailer line. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private remaining = 0;
  private keepAlive = false;
  /** Bytes followed the end of the message in the same read: the connection is out of step. */
  private trailingBytes = false;
  /** Any byte of the response arrived (an interim 1xx response counts). */
  private anyBytes = false;
  /** The CR of the CRLF after a chunk's data arrived; its LF is due next. */
  private chunkEndCr = false;

  /** The message ended (or failed); further bytes on the connection belong to nobody. */
  get finished(): boolean {
    return this.state === 'done' || this.state === 'failed';
  }

  /**
   * Parse one read. Events are appended to `out` (one array reused by the caller avoids an
   * allocation per read). Bytes after the end of the message are ignored.
   */
  feed(bytes: Buffer, out: ResponseEvent[]): void {
    if (bytes.length > 0) this.anyBytes = true;
    let pos = 0;
    while (pos < bytes.length && !this.finished) {
      switch (this.state) {
        case 'head':
          pos = this.readHead(bytes, pos, out);
          break;
        case 'length':
          pos = this.takeBody(bytes, pos, out);
          if (this.remaining === 0) this.finish(out);
          break;
        case 'chunk-size':
          pos = this.readChunkSize(bytes, pos, out);
          break;
        case 'chunk-data':
          pos = this.takeBody(bytes, pos, out);
          if (this.remaining === 0) this.state = 'chunk-data-end';
          break;
        case 'chunk-data-end':
          pos = this.readChunkDataEnd(bytes, pos, out);
          break;
        case 'trailers':
          pos = this.readTrailers(bytes, pos, out);
          break;
        case 'until-close':
          out.push({ type: 'body', bytes: pos === 0 ? bytes : bytes.subarray(pos) });
          pos = bytes.length;
          break;
      }
    }
    if (pos < bytes.length && this.state === 'done') this.trailingBytes = true;
  }

  /**
   * The connection closed. A body delimited by close ends here; anywhere else the message is
   * incomplete and an 'error' names where it stopped.
   */
  close(out: ResponseEvent[]): void {
    if (this.finished) return;
    if (this.state === 'until-close') {
      this.keepAlive = false;
      this.finish(out);
      return;
    }
    const where =
      this.state === 'head'
        ? this.anyBytes
          ? 'inside the response head'
          : 'before any response byte'
        : this.state === 'length'
          ? `with ${this.remaining} byte(s) of the body missing`
          : 'inside the chunked body';
    this.fail(`connection closed ${where}`, out, true);
  }

  /**
   * The bytes so far began with a status line: a failure is this response's own, not bytes a
   * previous response left on the connection.
   */
  get statusLineSeen(): boolean {
    return this.headSeen || (this.headLines.length > 0 && STATUS_LINE.test(this.headLines[0]!));
  }

  /** The connection may be reused: the message ended cleanly and both sides keep it open. */
  get reusable(): boolean {
    return this.state === 'done' && this.keepAlive && !this.trailingBytes;
  }

  private finish(out: ResponseEvent[]): void {
    this.state = 'done';
    out.push({ type: 'end' });
  }

  private fail(message: string, out: ResponseEvent[], closed = false): void {
    this.state = 'failed';
    this.pending = [];
    this.pendingBytes = 0;
    out.push({ type: 'error', message, closed });
  }

  /**
   * Collect bytes up to and including the next LF. Returns the line (without CR/LF), the
   * position after it and the line's size in bytes (terminator and earlier reads included), or
   * null when the read ended first (the bytes are kept). `used` bytes of the same limited unit
   * (the head) were taken before this line.
   */
  private takeLine(
    bytes: Buffer,
    pos: number,
    limit: number,
    used: number,
    what: string,
    out: ResponseEvent[],
  ): { line: string; next: number; size: number } | null {
    const lf = bytes.indexOf(LF, pos);
    const end = lf < 0 ? bytes.length : lf + 1;
    const size = this.pendingBytes + (end - pos);
    if (used + size > limit) {
      this.fail(`${what} longer than ${limit} bytes`, out);
      return null;
    }
    if (lf < 0) {
      this.pending.push(Buffer.from(bytes.subarray(pos))); // copy: the read's buffer may be reused
      this.pendingBytes += bytes.length - pos;
      return null;
    }
    let lineBytes = bytes.subarray(pos, lf);
    if (this.pendingBytes > 0) {
      lineBytes = Buffer.concat([...this.pending, lineBytes]);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let len = lineBytes.length;
    if (len > 0 && lineBytes[len - 1] === CR) len--;
    return { line: lineBytes.toString('latin1', 0, len), next: lf + 1, size };
  }

  // The head is parsed line by line; `headLines` accumulates until the empty line.
  private headLines: string[] = [];
  /** A final (non-1xx) head was parsed. */
  private headSeen = false;
  private headBytes = 0;

  /** Up to `remaining` body bytes from `pos`, as a view of the read; returns the new position. */
  private takeBody(bytes: Buffer, pos: number, out: ResponseEvent[]): number {
    const n = Math.min(this.remaining, bytes.length - pos);
    out.push({ type: 'body', bytes: bytes.subarray(pos, pos + n) });
    this.remaining -= n;
    return pos + n;
  }

  private readHead(bytes: Buffer, pos: number, out: ResponseEvent[]): number {
    while (pos < bytes.length) {
      const taken = this.takeLine(bytes, pos, MAX_HEAD_BYTES, this.headBytes, 'response head', out);
      if (taken === null) return bytes.length;
      this.headBytes += taken.size;
      pos = taken.next;
      if (taken.line.length > 0) {
        this.headLines.push(taken.line);
        continue;
      }
      if (this.headLines.length === 0) continue; // tolerate blank lines before the status line
      const lines = this.headLines;
      this.headLines = [];
      this.headBytes = 0;
      this.startBody(lines, out);
      return pos;
    }
    return pos;
  }

  private startBody(lines: string[], out: ResponseEvent[]): void {
    const statusLine = STATUS_LINE.exec(lines[0]!);
    if (statusLine === null) {
      this.fail(`not an HTTP/1.x response (status line: ${JSON.stringify(lines[0]!.slice(0, 80))})`, out);
      return;
    }
    const minor = statusLine[1]!;
    const status = Number(statusLine[2]);
    // No prototype: header names such as "constructor" or "__proto__" are plain keys.
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const first = line.charCodeAt(0);
      if (first === 0x20 || first === 0x09) {
        // obs-fold (RFC 9112 5.2): refused, as node:http does, rather than read as a header of its own.
        this.fail(`response header line folded onto the previous one (obsolete line folding): ${JSON.stringify(line.slice(0, 80))}`, out);
        return;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.fail(`malformed response header line ${JSON.stringify(line.slice(0, 80))}`, out);
        return;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value;
    }
    if (status >= 100 && status < 200) return; // interim (100 Continue, 103 Early Hints): the real head follows
    this.headSeen = true;

    const connection = (headers['connection'] ?? '').toLowerCase();
    this.keepAlive = minor === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);

    // Framing first (RFC 9112 6.3), so the head event already says whether the connection lives on.
    const transferEncoding = (headers['transfer-encoding'] ?? '').toLowerCase();
    let next: State;
    if (status === 204 || status === 304) {
      next = 'done';
    } else if (transferEncoding !== '') {
      // Any final coding other than chunked is delimited by close.
      next = /(?:^|,)\s*chunked\s*$/.test(transferEncoding) ? 'chunk-size' : 'until-close';
      // Both framings at once (RFC 9112 6.3): Transfer-Encoding wins, and the connection must close after.
      if (headers['content-length'] !== undefined) this.keepAlive = false;
    } else if (headers['content-length'] !== undefined) {
      const value = headers['content-length'];
      if (!/^\d{1,15}$/.test(value)) {
        this.fail(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`, out);
        return;
      }
      this.remaining = Number(value);
      next = this.remaining === 0 ? 'done' : 'length';
    } else {
      next = 'until-close';
    }
    if (next === 'until-close') this.keepAlive = false;
    out.push({ type: 'head', head: { status, statusText: statusLine[3] ?? '', headers, keepAlive: this.keepAlive } });
    if (next === 'done') this.finish(out);
    else this.state = next;
  }

  private readChunkSize(bytes: Buffer, pos: number, out: ResponseEvent[]): number {
    const fast = this.pendingBytes === 0 ? plainChunkSize(bytes, pos) : -1;
    if (fast >= 0) {
      // plainChunkSize stopped at the LF of a "<hex>\r\n" or "<hex>\n" line inside this read.
      this.remaining = chunkSizeValue;
      this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
      return fast;
    }
    const taken = this.takeLine(bytes, pos, MAX_CHUNK_LINE_BYTES, 0, 'chunk-size line', out);
    if (taken === null) return bytes.length;
    const sizeText = taken.line.split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) {
      this.fail(`invalid chunk size ${JSON.stringify(taken.line.slice(0, 40))}`, out);
      return bytes.length;
    }
    this.remaining = parseInt(sizeText, 16);
    this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    return taken.next;
  }

  /** The CRLF (or bare LF) that must follow a chunk's data; anything else means the data overran its size. */
  private readChunkDataEnd(bytes: Buffer, pos: number, out: ResponseEvent[]): number {
    while (pos < bytes.length) {
      const b = bytes[pos++];
      if (b === LF) {
        this.chunkEndCr = false;
        this.state = 'chunk-size';
        return pos;
      }
      if (b !== CR || this.chunkEndCr) {
        this.fail('chunk data longer than its declared size', out);
        return bytes.length;
      }
      this.chunkEndCr = true;
    }
    return pos;
  }

  private readTrailers(bytes: Buffer, pos: number, out: ResponseEvent[]): number {
    while (pos < bytes.length) {
      const taken = this.takeLine(bytes, pos, MAX_HEAD_BYTES, 0, 'trailer line', out);
      if (taken === null) return bytes.length;
      pos = taken.next;
      if (taken.line.length === 0) {
        this.finish(out);
        return pos;
      }
    }
    return pos;
  }
}
