// One streaming request on the keep-alive pool (h1/): write the request and parse the stamped
// reads. The socket thread (h1/socket-thread-worker.cjs) stamps the request start and every read;
// this exchange only queues a read, and HTTP framing, SSE and JSON run from defer()
// (deferred-work.ts), so a burst of reads never holds the main thread in one long task.
//
// A started request is never retried: whatever happens becomes the outcome of that request.

import { defer } from './deferred-work.js';
import type { ConnectionUser, H1Connection, H1Pool } from './h1/connection-pool.js';
import { ResponseParser, type ResponseEvent, type ResponseHead } from './h1/response-parser.js';
import { describeNetError, httpErrorMessage } from './http-client.js';
import { OpenAIStreamProcessor } from './stream-processor.js';

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

function isEventStream(head: ResponseHead): boolean {
  // A 200 JSON body means the server ignored stream:true (or answered an error as JSON).
  return head.status === 200 && !(head.headers['content-type'] ?? '').includes('application/json');
}

export function streamRequest(args: StreamRequestArgs, enqueueNs: bigint = process.hrtime.bigint()): Promise<StreamResult> {
  return new Promise((resolve) => {
    let startNs: bigint | null = null;
    let httpStatus: number | null = null;
    let head: ResponseHead | null = null;
    let proc: OpenAIStreamProcessor | null = null;
    let errorBody: Buffer[] | null = null;
    let errorBodySize = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    let conn: H1Connection | null = null;
    let withdraw: (() => void) | null = null;
    // Keeps the process alive until the request settled and its connection went back.
    let unhold: (() => void) | null = null;
    const releaseHoldIfDone = (): void => {
      if (settled && conn === null) unhold?.();
    };

    const parser = new ResponseParser();
    const events: ResponseEvent[] = [];
    // Reads stamped by the connection and not parsed yet (parallel arrays: no object per read).
    const reads: Buffer[] = [];
    const stamps: bigint[] = [];
    let queued = false;

    const finish = (endNs: bigint, extra: { error?: string; errorBody?: string } = {}): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      args.signal?.removeEventListener('abort', onAbort);
      const result: StreamResult = { enqueueNs, startNs, endNs, httpStatus, proc };
      if (extra.error !== undefined) result.error = extra.error;
      if (extra.errorBody !== undefined) result.errorBody = extra.errorBody;
      resolve(result);
      releaseHoldIfDone();
    };

    /** Give the connection back: reused only after a complete, well-framed response. */
    const releaseConnection = (reusable: boolean): void => {
      if (grace) clearTimeout(grace);
      const c = conn;
      conn = null;
      if (c !== null) args.pool.release(c, reusable);
      releaseHoldIfDone();
    };

    const failNow = (message: string): void => {
      const ns = process.hrtime.bigint();
      if (withdraw) withdraw();
      proc?.fail(ns, message);
      finish(ns, proc ? {} : { error: message });
      releaseConnection(false);
    };

    function onAbort(): void {
      failNow('request aborted');
    }

    const onHead = (h: ResponseHead): void => {
      head = h;
      httpStatus = h.status;
      if (isEventStream(h)) proc = new OpenAIStreamProcessor();
      else errorBody = [];
    };

    const onBody = (bytes: Buffer, ns: bigint): void => {
      if (proc !== null) {
        if (settled || !proc.feed(bytes, ns)) return;
        finish(ns);
        if (proc.outcome.state === 'failed') {
          releaseConnection(false);
        } else if (conn !== null) {
          // Let a well-behaved server end the response so the connection is reused; drop it
          // after the grace period, or at once when another request waits for its slot.
          grace = setTimeout(() => releaseConnection(false), AFTER_DONE_GRACE_MS);
          grace.unref();
          args.pool.linger(conn, () => releaseConnection(false));
        }
      } else if (errorBody !== null) {
        if (errorBodySize < MAX_ERROR_BODY) errorBody.push(Buffer.from(bytes));
        errorBodySize += bytes.length;
      }
    };

    const onMessageEnd = (ns: bigint): void => {
      if (errorBody !== null) {
        const text = Buffer.concat(errorBody).toString('utf8');
        const h = head!;
        const error =
          h.status === 200
            ? `server answered 200 with ${h.headers['content-type']} instead of an event stream (does it support stream: true?): ${text.slice(0, 300)}`
            : httpErrorMessage(h.status, h.statusText, text);
        finish(ns, { error, errorBody: text });
      } else if (proc !== null && !settled) {
        proc.end(ns);
        finish(ns);
      }
      // Reads queued behind the end of the message: the server sent more than one response.
      releaseConnection(!moreReadsQueued && parser.reusable && (proc === null || proc.outcome.state === 'done'));
    };

    /** The response is cut off: the connection closed early, or (`malformed`) its framing broke. */
    const onBroken = (ns: bigint, cause: string, malformed = false): void => {
      if (!settled) {
        if (proc !== null) {
          if (malformed) proc.fail(ns, `malformed HTTP response after ${proc.chunks.length} content chunk(s): ${cause}`);
          else proc.end(ns, cause);
          finish(ns);
        } else if (malformed) {
          // Garbage where a response should start, on a connection that already carried one:
          // the bytes may be the previous response's (a server framing bug), not this one's.
          const reused = conn !== null && conn.requests > 1 ? ' (on a reused keep-alive connection: the bytes may be left over from the previous response)' : '';
          finish(ns, { error: `malformed HTTP response${reused}: ${cause}` });
        } else {
          finish(ns, { error: head === null ? `request failed before a response: ${cause}` : `response broken: ${cause}` });
        }
      }
      releaseConnection(false);
    };

    const dispatch = (ns: bigint): void => {
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        if (ev.type === 'body') onBody(ev.bytes, ns);
        else if (ev.type === 'head') onHead(ev.head);
        else if (ev.type === 'end') onMessageEnd(ns);
        else onBroken(ns, ev.message, !ev.closed);
      }
      events.length = 0;
    };

    let moreReadsQueued = false;
    const parsePending = (): void => {
      queued = false;
      for (let i = 0; i < reads.length && conn !== null; i++) {
        moreReadsQueued = i < reads.length - 1;
        parser.feed(reads[i]!, events);
        dispatch(stamps[i]!);
      }
      moreReadsQueued = false;
      reads.length = 0;
      stamps.length = 0;
    };

    const user: ConnectionUser = {
      onWritten(ns) {
        startNs = ns;
      },
      onRead(bytes, ns) {
        if (startNs === null || ns < startNs) {
          // Stamped before this request was written: left over from the previous response.
          failNow('the connection carried bytes left over from the previous response (the server broke HTTP framing); not retried');
          return;
        }
        reads.push(bytes);
        stamps.push(ns);
        if (!queued) {
          queued = true;
          defer(parsePending);
        }
      },
      onClose(ns, error) {
        parsePending(); // bytes read before the close come first
        if (conn === null) return;
        if (error !== undefined) {
          const chunks = proc?.chunks.length ?? 0;
          const why = describeNetError(error, args.pool.origin);
          onBroken(ns, head === null ? why : `stream broken after ${chunks} content chunk(s): ${why}`);
          return;
        }
        parser.close(events);
        dispatch(ns);
      },
    };

    if (args.signal?.aborted) {
      finish(process.hrtime.bigint(), { error: 'request aborted before it started' });
      return;
    }
    unhold = args.pool.hold();
    args.signal?.addEventListener('abort', onAbort, { once: true });

    if (args.timeoutMs > 0) {
      timer = setTimeout(() => {
        const phase =
          startNs === null
            ? conn === null
              ? 'waiting for a free connection'
              : 'connecting to the server'
            : httpStatus === null
              ? 'waiting for the response headers'
              : proc !== null && proc.chunks.length > 0
                ? `stream stalled after ${proc.chunks.length} content chunk(s)`
                : 'waiting for the first token';
        failNow(`request timed out after ${args.timeoutMs} ms (${phase})`);
      }, args.timeoutMs);
    }

    let request: Buffer;
    try {
      request = requestBytes(args);
    } catch (err) {
      finish(process.hrtime.bigint(), { error: `request could not be sent: ${(err as Error).message}` });
      return;
    }

    // Runs deferred (see deferred-work.ts): the time until the connection is handed over is
    // client queue time (startNs − enqueueNs), reported apart from TTFT.
    defer(() => {
      if (settled) return; // aborted or timed out while queued
      try {
        withdraw = args.pool.acquire(
          (c) => {
            withdraw = null;
            conn = c;
            c.attach(user);
            c.write(request);
          },
          (error) => {
            withdraw = null;
            finish(process.hrtime.bigint(), { error: `request could not be sent: ${error.message}` });
          },
        );
      } catch (err) {
        finish(process.hrtime.bigint(), { error: `request could not be sent: ${(err as Error).message}` });
      }
    });
  });
}
