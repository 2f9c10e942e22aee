// One streaming request on the keep-alive pool (h1/): write the request and parse the stamped
// reads. The socket thread (h1/socket-thread-worker.cjs) stamps the request start and every read;
// this exchange only queues a read, and HTTP framing, SSE and JSON run from defer()
// (deferred-work.ts), so a burst of reads never holds the main thread in one long task.
//
// A started request is never retried: whatever happens becomes the outcome of that request.
//
// One object per request (StreamExchange) with its handlers as methods, and timers and
// deferred jobs that take it as their argument: at 1,024 concurrent streams every
// per-request allocation survives young-generation GCs and is copied by each of them
// (closures made the state of a request 2-3x larger).

import { clearKeepingCapacity } from '../../util/clear-array.js';
import { defer } from './deferred-work.js';
import type { ConnectionUser, ConnectionWaiter, H1Connection, H1Pool, Lingerer } from './h1/connection-pool.js';
import { ResponseParser, type ResponseEvent, type ResponseHead } from './h1/response-parser.js';
import { describeNetError, httpErrorMessage } from './http-client.js';
import { OpenAIStreamProcessor } from './stream-processor.js';
import type { ThinkMarkers } from '../../text/think-marker.js';

export interface StreamRequestArgs {
  pool: H1Pool;
  /** Path and query of the request target. */
  path: string;
  /** Lower-case names; host, content-length and connection are added here. */
  headers: Readonly<Record<string, string>>;
  body: string;
  /** 0 = none */
  timeoutMs: number;
  signal?: AbortSignal;
  /** The request asked for reasoning (see StreamProcessorOptions.thinkMarker), and how its thinking reads as text. */
  thinkMarker?: boolean;
  thinkMarkers?: ThinkMarkers;
}

export interface StreamResult {
  /** generate() handed the request over (before waiting for a connection). */
  enqueueNs: bigint;
  /**
   * Request start, stamped by the socket host: the request handed to a connected socket, or on
   * a new connection the moment it finished connecting (TCP; TLS: handshake). null = never.
   */
  startNs: bigint | null;
  endNs: bigint;
  httpStatus: number | null;
  /** Body of a non-200 response (undefined for 200). */
  errorBody?: string;
  /** Failure outside the stream content (network, timeout, abort, HTTP status). */
  error?: string;
  proc: OpenAIStreamProcessor | null;
}

/** How long to wait for the server to end the response after `[DONE]` before dropping the connection. */
const AFTER_DONE_GRACE_MS = 2_000;
/** Most bytes kept of a non-200 body. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Throws when a header name is not a token or a value holds a character HTTP/1.1 does not
 * allow (RFC 9110 field-value: HTAB, visible ASCII, space, obs-text 0x80–0xFF): line breaks
 * would split the request, and anything above 0xFF would be mangled by the latin1 encoding.
 */
export function assertHeader(name: string, value: string): void {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`invalid HTTP header name ${JSON.stringify(name)}`);
  const bad = /[^\t\x20-\x7e\x80-\xff]/.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new Error(`HTTP header ${name} contains a character not allowed in a header value (U+${code} at position ${bad.index})`);
  }
}

function requestBytes(args: StreamRequestArgs): Buffer {
  const lines = [`POST ${args.path} HTTP/1.1`, `host: ${args.pool.authority}`];
  for (const [name, value] of Object.entries(args.headers)) {
    assertHeader(name, value);
    lines.push(`${name}: ${value}`);
  }
  const body = Buffer.from(args.body, 'utf8');
  lines.push(`content-length: ${body.length}`, 'connection: keep-alive', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]);
}

/**
 * A 200 whose body is an event stream. A server that sends no Content-Type gets the benefit of
 * the doubt; any other type (JSON: stream: true ignored or an error as JSON; HTML: a login
 * page or proxy) is reported with its body.
 */
function isEventStream(head: ResponseHead): boolean {
  if (head.status !== 200) return false;
  const type = head.headers['content-type'];
  return type === undefined || type.split(';', 1)[0]!.trim().toLowerCase() === 'text/event-stream';
}

/**
 * The codings a body arrives under besides chunked framing (Content-Encoding, or a transfer
 * coding other than chunked): the client asks for none, so one here comes from a proxy or a
 * server that compresses anyway, and the stream cannot be read (nor its chunks timed) as sent.
 */
function bodyCoding(head: ResponseHead): string | null {
  const content = (head.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (content !== '' && content !== 'identity') return `Content-Encoding: ${content}`;
  const transfer = (head.headers['transfer-encoding'] ?? '')
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'chunked' && c !== 'identity');
  return transfer.length > 0 ? `Transfer-Encoding: ${transfer.join(', ')}` : null;
}

export function streamRequest(args: StreamRequestArgs, enqueueNs: bigint = process.hrtime.bigint()): Promise<StreamResult> {
  return new Promise((resolve) => new StreamExchange(args, enqueueNs, resolve).start(args));
}

function onTimeout(exchange: StreamExchange): void {
  exchange.timedOut();
}

function onGraceOver(exchange: StreamExchange): void {
  exchange.releaseConnection(false);
}

function runParsePending(exchange: StreamExchange): void {
  exchange.parsePending();
}

function runAcquire(exchange: StreamExchange): void {
  exchange.acquire();
}

/** One request, from its hand-over to the pool until it settled and gave its connection back. */
class StreamExchange implements ConnectionUser, ConnectionWaiter, Lingerer {
  private startNs: bigint | null = null;
  /** Set when the response head arrived. */
  private httpStatus: number | null = null;
  /** The head of a response that is not an event stream (an error), for its message. */
  private head: ResponseHead | null = null;
  private proc: OpenAIStreamProcessor | null = null;
  private errorBody: Buffer[] | null = null;
  private errorBodySize = 0;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private grace: NodeJS.Timeout | undefined;
  private conn: H1Connection | null = null;
  /** In the pool's waiting list (withdrawn when the request ends first). */
  private waiting = false;
  /** Keeps the process alive until the request settled and its connection went back. */
  private unhold: (() => void) | null = null;
  private request: Buffer | null = null;

  private readonly parser = new ResponseParser();
  private readonly events: ResponseEvent[] = [];
  // Reads stamped by the connection and not parsed yet (parallel arrays: no object per read).
  private readonly reads: Buffer[] = [];
  private readonly stamps: bigint[] = [];
  private readonly slacks: number[] = [];
  /** Stamp slack of the read being parsed (see SocketEvents.onRead); undefined at the close. */
  private readSlackMs: number | undefined = undefined;
  private queued = false;
  private moreReadsQueued = false;

  // Not the request's args: its body string would stay alive as long as the request.
  private readonly pool: H1Pool;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly thinkMarker: boolean;
  private readonly thinkMarkers: ThinkMarkers | undefined;

  constructor(
    args: StreamRequestArgs,
    private readonly enqueueNs: bigint,
    private readonly resolve: (result: StreamResult) => void,
  ) {
    this.pool = args.pool;
    this.timeoutMs = args.timeoutMs;
    this.signal = args.signal;
    this.thinkMarker = args.thinkMarker === true;
    this.thinkMarkers = args.thinkMarkers;
  }

  start(args: StreamRequestArgs): void {
    if (args.signal?.aborted) {
      this.finish(process.hrtime.bigint(), { error: 'request aborted before it started' });
      return;
    }
    this.unhold = args.pool.hold();
    args.signal?.addEventListener('abort', this, { once: true });
    if (args.timeoutMs > 0) this.timer = setTimeout(onTimeout, args.timeoutMs, this);
    try {
      this.request = requestBytes(args);
    } catch (err) {
      this.finish(process.hrtime.bigint(), { error: `request could not be sent: ${(err as Error).message}` });
      return;
    }
    // Runs deferred (see deferred-work.ts): the time until the connection is handed over is
    // client queue time (startNs − enqueueNs), reported apart from TTFT.
    defer(runAcquire, this);
  }

  acquire(): void {
    if (this.settled) return; // aborted or timed out while queued
    try {
      this.waiting = true;
      if (this.pool.acquire(this)) this.waiting = false;
    } catch (err) {
      this.waiting = false;
      this.finish(process.hrtime.bigint(), { error: `request could not be sent: ${(err as Error).message}` });
    }
  }

  // ConnectionWaiter
  connectionReady(conn: H1Connection): void {
    this.waiting = false;
    this.conn = conn;
    conn.attach(this);
    // Kept until the socket host says it was written (onWritten): a pooled connection the
    // server closed while idle never writes it, and the request then goes on another one.
    conn.write(this.request!);
  }

  connectionFailed(error: Error): void {
    this.waiting = false;
    this.finish(process.hrtime.bigint(), { error: `request could not be sent: ${error.message}` });
  }

  // Lingerer
  giveUpLingering(): void {
    this.releaseConnection(false);
  }

  // The abort signal's listener (an object with handleEvent: no closure per request)
  handleEvent(): void {
    this.failNow('request aborted');
  }

  timedOut(): void {
    const phase =
      this.startNs === null
        ? this.conn === null
          ? 'waiting for a free connection'
          : 'connecting to the server'
        : this.httpStatus === null
          ? 'waiting for the response headers'
          : this.proc !== null && this.proc.chunkCount > 0
            ? `stream stalled after ${this.proc.chunkCount} content chunk(s)`
            : 'waiting for the first token';
    this.failNow(`request timed out after ${this.timeoutMs} ms (${phase})`);
  }

  // ConnectionUser
  onWritten(ns: bigint): void {
    this.startNs = ns;
    this.request = null;
  }

  onRead(bytes: Buffer, ns: bigint, slackMs: number): void {
    if (this.startNs === null || ns < this.startNs) {
      // Stamped before this request was written: left over from the previous response.
      this.failNow('the connection carried bytes left over from the previous response (the server broke HTTP framing); not retried');
      return;
    }
    this.reads.push(bytes);
    this.stamps.push(ns);
    this.slacks.push(slackMs);
    if (!this.queued) {
      this.queued = true;
      defer(runParsePending, this);
    }
  }

  onClose(ns: bigint, error: NodeJS.ErrnoException | undefined): void {
    this.parsePending(); // bytes read before the close come first
    if (this.conn === null) return;
    if (this.startNs === null && this.request !== null && this.conn.requests > 1 && !this.settled) {
      // A keep-alive connection the server closed while it sat idle in the pool (its close was
      // still on the way when this request took it): nothing was written, so this is not a
      // started request, and it goes out on another connection.
      this.releaseConnection(false);
      this.acquire();
      return;
    }
    if (error !== undefined) {
      // The stream processor's message counts the content chunks that came before the break.
      this.onBroken(ns, describeNetError(error, this.pool.origin));
      return;
    }
    this.readSlackMs = undefined; // what the close completes was read earlier: no read, no slack
    this.parser.close(this.events);
    this.dispatch(ns);
  }

  parsePending(): void {
    this.queued = false;
    const reads = this.reads;
    const stamps = this.stamps;
    for (let i = 0; i < reads.length && this.conn !== null; i++) {
      this.moreReadsQueued = i < reads.length - 1;
      this.readSlackMs = this.slacks[i]!;
      this.parser.feed(reads[i]!, this.events);
      this.dispatch(stamps[i]!);
    }
    this.moreReadsQueued = false;
    clearKeepingCapacity(reads);
    clearKeepingCapacity(stamps);
    clearKeepingCapacity(this.slacks);
  }

  /** Give the connection back: reused only after a complete, well-framed response. */
  releaseConnection(reusable: boolean): void {
    if (this.grace) clearTimeout(this.grace);
    const c = this.conn;
    this.conn = null;
    if (c !== null) this.pool.release(c, reusable);
    this.releaseHoldIfDone();
  }

  private releaseHoldIfDone(): void {
    if (this.settled && this.conn === null && this.unhold !== null) {
      this.unhold();
      this.unhold = null;
    }
  }

  private finish(endNs: bigint, extra: { error?: string; errorBody?: string } = {}): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this);
    const result: StreamResult = { enqueueNs: this.enqueueNs, startNs: this.startNs, endNs, httpStatus: this.httpStatus, proc: this.proc };
    if (extra.error !== undefined) result.error = extra.error;
    if (extra.errorBody !== undefined) result.errorBody = extra.errorBody;
    this.resolve(result);
    this.releaseHoldIfDone();
  }

  private failNow(message: string): void {
    const ns = process.hrtime.bigint();
    if (this.waiting) {
      this.waiting = false;
      this.pool.withdraw(this);
    }
    this.proc?.fail(ns, message);
    this.finish(ns, this.proc ? {} : { error: message });
    this.releaseConnection(false);
  }

  private dispatch(ns: bigint): void {
    const events = this.events;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      if (ev.type === 'body') this.onBody(ev.bytes, ns);
      else if (ev.type === 'head') this.onHead(ev.head);
      else if (ev.type === 'end') this.onMessageEnd(ns);
      else this.onBroken(ns, ev.message, !ev.closed);
    }
    clearKeepingCapacity(events);
  }

  private onHead(h: ResponseHead): void {
    this.httpStatus = h.status;
    const coding = bodyCoding(h);
    if (coding !== null) {
      this.failNow(`server answered HTTP ${h.status} with ${coding} although the client asked for no compression (a proxy compressing the stream?); the body cannot be read as sent`);
      return;
    }
    // Only an error response keeps its head (for the message): a stream's headers would live
    // as long as the request, and at 1,024 streams be copied by every scavenge.
    if (isEventStream(h)) {
      this.proc = new OpenAIStreamProcessor({ thinkMarker: this.thinkMarker, ...(this.thinkMarkers ? { thinkMarkers: this.thinkMarkers } : {}) });
    } else {
      this.head = h;
      this.errorBody = [];
    }
  }

  private onBody(bytes: Buffer, ns: bigint): void {
    const proc = this.proc;
    if (proc !== null) {
      if (this.settled || !proc.feed(bytes, ns, this.readSlackMs)) return;
      this.finish(ns);
      if (proc.outcome.state === 'failed') {
        this.releaseConnection(false);
      } else if (this.conn !== null) {
        // Let a well-behaved server end the response so the connection is reused; drop it
        // after the grace period, or at once when another request waits for its slot.
        this.grace = setTimeout(onGraceOver, AFTER_DONE_GRACE_MS, this);
        this.grace.unref();
        this.pool.linger(this.conn, this);
      }
    } else if (this.errorBody !== null) {
      if (this.errorBodySize < MAX_ERROR_BODY) this.errorBody.push(Buffer.from(bytes));
      this.errorBodySize += bytes.length;
    }
  }

  private onMessageEnd(ns: bigint): void {
    const proc = this.proc;
    if (this.errorBody !== null) {
      const text = Buffer.concat(this.errorBody).toString('utf8');
      const h = this.head!;
      const error =
        h.status === 200
          ? `server answered 200 with ${h.headers['content-type']} instead of an event stream (does it support stream: true?): ${text.slice(0, 300)}`
          : httpErrorMessage(h.status, h.statusText, text, h.headers);
      this.finish(ns, { error, errorBody: text });
    } else if (proc !== null && !this.settled) {
      proc.end(ns, undefined, 'response');
      this.finish(ns);
    }
    // Reads queued behind the end of the message: the server sent more than one response.
    this.releaseConnection(!this.moreReadsQueued && this.parser.reusable && (proc === null || proc.outcome.state === 'done'));
  }

  /** The response is cut off: the connection closed early, or (`malformed`) its framing broke. */
  private onBroken(ns: bigint, cause: string, malformed = false): void {
    if (!this.settled) {
      const proc = this.proc;
      if (proc !== null) {
        if (malformed) proc.fail(ns, `malformed HTTP response after ${proc.chunkCount} content chunk(s): ${cause}`);
        else proc.end(ns, cause);
        this.finish(ns);
      } else if (malformed) {
        // Garbage where a response should start, on a connection that already carried one:
        // the bytes may be the previous response's (a server framing bug), not this one's.
        const reused =
          this.conn !== null && this.conn.requests > 1 && !this.parser.statusLineSeen
            ? ' (on a reused keep-alive connection: the bytes may be left over from the previous response)'
            : '';
        this.finish(ns, { error: `malformed HTTP response${reused}: ${cause}` });
      } else {
        this.finish(ns, { error: this.httpStatus === null ? `request failed before a response: ${cause}` : `response broken: ${cause}` });
      }
    }
    this.releaseConnection(false);
  }
}
