// node:http(s) for the control requests (health, models, metrics) and the error texts shared
// with the streaming transport (stream-request.ts, which runs on its own connection pool).

import http from 'node:http';
import https from 'node:https';

export type HttpAgent = http.Agent | https.Agent;

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
