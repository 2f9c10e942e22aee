// node:http(s) for the control requests (health, models, metrics) and the error texts shared
// with the streaming transport (stream-request.ts, which runs on its own connection pool).

import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';

export type HttpAgent = http.Agent | https.Agent;

/** Longest delay setTimeout honours (2^31 − 1 ms, ~24.8 days): Node turns anything longer into 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Throws a RangeError naming `name` unless `ms` is a timeout setTimeout can honour (0 = none). */
export function assertTimeoutMs(name: string, ms: number): void {
  if (!(Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`${name} must be between 0 (no timeout) and ${MAX_TIMEOUT_MS} ms (got ${String(ms)})`);
  }
}

/** Idle keep-alive sockets are closed after this long: below uvicorn's 5 s keep-alive. */
export const FREE_SOCKET_TIMEOUT_MS = 4_000;

export function createAgent(url: string, maxSockets: number, ca?: string): HttpAgent {
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
    ...(ca !== undefined ? { ca } : {}),
  };
  return url.startsWith('https:') ? new https.Agent(opts) : new http.Agent(opts);
}

function transportFor(url: URL): typeof http | typeof https {
  return url.protocol === 'https:' ? https : http;
}

/** Certificate errors a private CA would cure (OpenSSL's codes as Node reports them). */
const UNTRUSTED_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** Human-readable cause of a socket-level error. */
export function describeNetError(err: unknown, url: string): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== undefined && UNTRUSTED_CERT_CODES.has(e.code)) {
    return `${e.code}: ${e.message} (for a private CA set backend.ca_file, or NODE_EXTRA_CA_CERTS)`;
  }
  if (e?.code === 'EPROTO' && /wrong version number|packet length too long|http request/i.test(e.message ?? '')) {
    return `TLS handshake with ${url} failed: the server does not answer in TLS on that port (a plain-HTTP server? use http://) [${e.message}]`;
  }
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
  /** Lower-case names (node:http's). */
  headers: http.IncomingHttpHeaders;
}

/** Body bytes under their Content-Encoding (a proxy may compress though the client asks for none). */
function decodeBody(bytes: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'identity':
    case '':
      return bytes;
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(bytes);
    case 'deflate':
      return zlib.inflateSync(bytes);
    case 'br':
      return zlib.brotliDecompressSync(bytes);
    default:
      throw new Error(`unsupported Content-Encoding ${JSON.stringify(encoding)}`);
  }
}

/**
 * Small non-streaming request (health, models, metrics); `timeoutMs` 0 = none. Rejects with a
 * clear Error on network failure or a body it cannot decode.
 */
export function simpleRequest(
  urlStr: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent: HttpAgent; timeoutMs: number; signal?: AbortSignal },
): Promise<SimpleResponse> {
  const url = new URL(urlStr);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = transportFor(url).request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent, signal: opts.signal });
    const timer = opts.timeoutMs > 0 ? setTimeout(() => req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs) : undefined;
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (b: Buffer) => {
        size += b.length;
        if (size <= 8 * 1024 * 1024) parts.push(b);
      });
      res.on('end', () => {
        clearTimeout(timer);
        let body: Buffer;
        try {
          body = decodeBody(Buffer.concat(parts), res.headers['content-encoding']);
        } catch (err) {
          reject(new Error(`${opts.method ?? 'GET'} ${urlStr}: cannot decode the response body: ${(err as Error).message}`));
          return;
        }
        resolve({ status: res.statusCode ?? 0, body: body.toString('utf8'), headers: res.headers });
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

/**
 * Message of a non-2xx JSON error body, else the body text (truncated). From `headers`
 * (lower-case names): a redirect's Location, named because the client does not follow
 * redirects, and the Retry-After of a 429/503.
 */
export function httpErrorMessage(
  status: number,
  statusText: string | undefined,
  body: string,
  headers: Readonly<Record<string, string | string[] | undefined>> = {},
): string {
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
  const location = headers['location'];
  const retryAfter = headers['retry-after'];
  const note =
    status >= 300 && status < 400 && typeof location === 'string' && location !== ''
      ? ` (redirects to ${location}; redirects are not followed: point the endpoint there)`
      : typeof retryAfter === 'string' && retryAfter !== ''
        ? ` (Retry-After: ${retryAfter})`
        : '';
  return `HTTP ${status}${statusText ? ` ${statusText}` : ''}${note}${detail ? `: ${detail}` : ''}`;
}
