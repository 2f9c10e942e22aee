// node:http(s) transport. Streaming responses are stamped with process.hrtime.bigint() in the
// 'data' handler, before any parsing (fetch/undici hide the read boundaries and add overhead).
// A started request is never retried: whatever happens becomes the outcome of that request.

import http from 'node:http';
import https from 'node:https';
import { defer } from './deferred-work.js';
import { OpenAIStreamProcessor } from './stream-processor.js';

export type HttpAgent = http.Agent | https.Agent;

const FREE_SOCKET_TIMEOUT_MS = 4_000;

export function createAgent(url: string, maxSockets: number): HttpAgent {
  // noDelay: small SSE writes must not wait for Nagle (passed on to net.connect).
  // timeout: the agent destroys a *free* socket idle this long (an in-flight request only gets a
  // 'timeout' event, which nothing listens to; stalls are the request timer's job). Below
  // uvicorn's 5 s keep-alive, so a request is not written into a socket the server is closing.
  const opts: http.AgentOptions & { noDelay: boolean } = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    scheduling: 'lifo',
    noDelay: true,
    timeout: FREE_SOCKET_TIMEOUT_MS,
  };
  return url.startsWith('https:') ? new https.Agent(opts) : new http.Agent(opts);
}

function transportFor(url: URL): typeof http | typeof https {
  return url.protocol === 'https:' ? https : http;
}

const MAX_ERROR_BODY = 64 * 1024;

/** Human-readable cause of a socket-level error. */
export function describeNetError(err: unknown, url: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${url} (is the server running?)`;
    case 'ENOTFOUND':
      return `host not found for ${url}`;
    case 'ECONNRESET':
      return `connection reset by the server (${url})`;
    default:
      return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)}`;
  }
}

export interface SimpleResponse {
  status: number;
  body: string;
}

/** Small non-streaming request (health, models, metrics). Rejects with a clear Error on network failure. */
export function simpleRequest(
  urlStr: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent: HttpAgent; timeoutMs: number; signal?: AbortSignal },
): Promise<SimpleResponse> {
  const url = new URL(urlStr);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = transportFor(url).request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent, signal: opts.signal });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (b: Buffer) => {
        size += b.length;
        if (size <= 8 * 1024 * 1024) parts.push(b);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${opts.method ?? 'GET'} ${urlStr} failed: ${describeNetError(err, urlStr)}`));
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${opts.method ?? 'GET'} ${urlStr} failed: ${describeNetError(err, urlStr)}`));
    });
    req.end(opts.body);
  });
}

/** Message of a non-2xx JSON error body, else the body text (truncated). */
export function httpErrorMessage(status: number, statusText: string | undefined, body: string): string {
  let detail = body.trim();
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const err = parsed['error'];
    if (typeof err === 'string') detail = err;
    else if (err && typeof err === 'object' && typeof (err as Record<string, unknown>)['message'] === 'string') {
      detail = (err as Record<string, string>)['message']!;
    } else if (typeof parsed['message'] === 'string') detail = parsed['message'];
    else if (typeof parsed['detail'] === 'string') detail = parsed['detail'];
    else if (parsed['detail'] !== undefined) detail = JSON.stringify(parsed['detail']);
  } catch {
    /* not JSON: keep the text */
  }
  if (detail.length > 500) detail = `${detail.slice(0, 500)}…`;
  return `HTTP ${status}${statusText ? ` ${statusText}` : ''}${detail ? `: ${detail}` : ''}`;
}

export interface StreamRequestArgs {
  url: URL;
  agent: HttpAgent;
  headers: Record<string, string>;
  body: string;
  /** 0 = none */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface StreamResult {
  /** generate() handed the request over (before agent queueing). */
  enqueueNs: bigint;
  /** The request got its socket and its bytes were flushed (null = never). */
  startNs: bigint | null;
  endNs: bigint;
  httpStatus: number | null;
  /** Body of a non-200 response (undefined for 200). */
  errorBody?: string;
  /** Failure outside the stream content (network, timeout, abort, HTTP status). */
  error?: string;
  proc: OpenAIStreamProcessor | null;
}

/** How long to wait for the server to end the response after `[DONE]` before dropping the socket. */
const AFTER_DONE_GRACE_MS = 2_000;

export function streamRequest(args: StreamRequestArgs, enqueueNs: bigint = process.hrtime.bigint()): Promise<StreamResult> {
  return new Promise((resolve) => {
    let startNs: bigint | null = null;
    let httpStatus: number | null = null;
    let proc: OpenAIStreamProcessor | null = null;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let drainReads = (): void => {};

    const finish = (endNs: bigint, extra: { error?: string; errorBody?: string } = {}): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      args.signal?.removeEventListener('abort', onAbort);
      const result: StreamResult = { enqueueNs, startNs, endNs, httpStatus, proc };
      if (extra.error !== undefined) result.error = extra.error;
      if (extra.errorBody !== undefined) result.errorBody = extra.errorBody;
      resolve(result);
    };

    if (args.signal?.aborted) {
      finish(process.hrtime.bigint(), { error: 'request aborted before it started' });
      return;
    }

    // Created by send(), which runs deferred (see deferred-work.ts): the time until then is
    // client queue time (startNs − enqueueNs), reported apart from TTFT.
    let req: http.ClientRequest | null = null;

    const failNow = (message: string): void => {
      const ns = process.hrtime.bigint();
      proc?.fail(ns, message);
      finish(ns, proc ? {} : { error: message });
      req?.destroy();
    };

    function onAbort(): void {
      failNow('request aborted');
    }
    args.signal?.addEventListener('abort', onAbort, { once: true });

    if (args.timeoutMs > 0) {
      timer = setTimeout(() => {
        const phase =
          httpStatus === null
            ? 'waiting for the response headers'
            : proc && proc.chunks.length > 0
              ? `stream stalled after ${proc.chunks.length} content chunk(s)`
              : 'waiting for the first token';
        failNow(`request timed out after ${args.timeoutMs} ms (${phase})`);
      }, args.timeoutMs);
    }

    const send = (): void => {
      if (settled) return; // aborted or timed out while queued
      let r: http.ClientRequest;
      try {
        r = transportFor(args.url).request(args.url, {
          method: 'POST',
          agent: args.agent,
          headers: { ...args.headers, 'content-length': String(Buffer.byteLength(args.body)) },
        });
      } catch (err) {
        finish(process.hrtime.bigint(), { error: `request could not be sent: ${(err as Error).message}` });
        return;
      }
      req = r;
      r.once('socket', () => {
        startNs = process.hrtime.bigint();
      });

      r.on('response', (res) => {
        httpStatus = res.statusCode ?? 0;
        const contentType = String(res.headers['content-type'] ?? '');
        // A 200 JSON body means the server ignored stream:true (or answered an error as JSON).
        const notAStream = httpStatus === 200 && contentType.includes('application/json');
        if (httpStatus !== 200 || notAStream) {
          const parts: Buffer[] = [];
          let size = 0;
          res.on('data', (b: Buffer) => {
            if (size < MAX_ERROR_BODY) parts.push(b);
            size += b.length;
          });
          const done = (): void => {
            const body = Buffer.concat(parts).toString('utf8');
            const error = notAStream
              ? `server answered 200 with ${contentType} instead of an event stream (does it support stream: true?): ${body.slice(0, 300)}`
              : httpErrorMessage(httpStatus!, res.statusMessage, body);
            finish(process.hrtime.bigint(), { error, errorBody: body });
          };
          res.on('end', done);
          res.on('error', done);
          return;
        }
        const p = new OpenAIStreamProcessor();
        proc = p;
        // Reads are stamped here and parsed later (defer): the stamps of all sockets read in one
        // poll phase are taken before any of them is parsed.
        const reads: Buffer[] = [];
        const stamps: bigint[] = [];
        let queued = false;
        const parsePending = (): void => {
          queued = false;
          for (let i = 0; i < reads.length && !settled; i++) {
            const ns = stamps[i]!;
            if (!p.feed(reads[i]!, ns)) continue;
            finish(ns);
            if (p.outcome.state === 'failed') {
              r.destroy();
            } else {
              // Let a well-behaved server end the response so the socket is reused; drop it otherwise.
              const grace = setTimeout(() => r.destroy(), AFTER_DONE_GRACE_MS);
              grace.unref();
              res.once('close', () => clearTimeout(grace));
            }
          }
          reads.length = 0;
          stamps.length = 0;
        };
        drainReads = parsePending;
        res.on('data', (bytes: Buffer) => {
          const ns = process.hrtime.bigint(); // stamp first: arrival, before parsing
          if (settled) return;
          reads.push(bytes);
          stamps.push(ns);
          if (!queued) {
            queued = true;
            defer(parsePending);
          }
        });
        const endStream = (cause?: string): void => {
          const ns = process.hrtime.bigint();
          parsePending();
          p.end(ns, cause);
          finish(ns);
        };
        res.on('end', () => endStream());
        res.on('error', (err) => endStream(describeNetError(err, args.url.href)));
        res.on('close', () => {
          if (!settled) endStream('connection closed');
        });
      });

      r.on('error', (err) => {
        const ns = process.hrtime.bigint();
        if (settled) return;
        drainReads();
        const p = proc as OpenAIStreamProcessor | null;
        const message =
          httpStatus === null
            ? `request failed before a response: ${describeNetError(err, args.url.href)}`
            : `stream broken after ${p?.chunks.length ?? 0} content chunk(s): ${describeNetError(err, args.url.href)}`;
        if (p) p.end(ns, message);
        finish(ns, p ? {} : { error: message });
      });

      r.end(args.body);
    };
    defer(send);
  });
}
