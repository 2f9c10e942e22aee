// A scripted OpenAI-compatible streaming server on 127.0.0.1 (port 0). Used by the tests, the
// SSE benchmark (in a child process) and calibrateClient(). Each streaming request is answered
// by a script of raw writes with delays; the write marked `firstToken` is stamped with
// process.hrtime.bigint() immediately before it goes to the socket: the true first-token time.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EmulatorRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (null when absent or not JSON). */
  body: Record<string, unknown> | null;
  /** Last user message (chat) or the prompt (completions) as text: the request's key in the log. */
  key: string;
  arrivedNs: bigint;
}

/** A write produced at write time from its own hrtime stamp (lets a response carry the server's clock). */
export type DynamicWrite = (writeNs: bigint) => string | Uint8Array;

export type EmulatorStep =
  | {
      write: string | Uint8Array | DynamicWrite;
      /** Wait before this step: > 0 ms timer; 0 = one event-loop turn; absent = none. */
      delayMs?: number;
      firstToken?: boolean;
      /**
       * Push the write to the kernel at once (node:http would flush it after the callback) and
       * report when that finished: on loopback the bytes are then in the client's socket.
       */
      onFlushed?: (flushedNs: bigint) => void;
    }
  | { destroy: true; delayMs?: number }
  | { stall: true; delayMs?: number };

export interface EmulatorScript {
  status?: number;
  headers?: Record<string, string>;
  steps: EmulatorStep[];
}

export interface EmulatorLogEntry {
  key: string;
  path: string;
  body: Record<string, unknown> | null;
  headers: http.IncomingHttpHeaders;
  arrivedNs: bigint;
  /** When the step marked firstToken was written (null: none written). */
  firstTokenWriteNs: bigint | null;
  finishedNs: bigint | null;
}

export interface EmulatorOptions {
  models?: { id: string; max_model_len?: number }[];
  /** Script for a POST to /v1/chat/completions or /v1/completions. */
  respond: (req: EmulatorRequest) => EmulatorScript;
  /** Status of GET /health (default 200; 404 = endpoint missing). */
  healthStatus?: number;
  /** Body of GET /metrics; null/undefined = 404. */
  metrics?: () => string | null;
  /** Require this bearer token on every route. */
  apiKey?: string;
  /** Keep a log of streaming requests (default true; the benchmark turns it off). */
  keepLog?: boolean;
}

export interface OpenAIEmulator {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  log: EmulatorLogEntry[];
  /** Log entry by key (last one with that key). */
  entry(key: string): EmulatorLogEntry | undefined;
  close(): Promise<void>;
}

function requestKey(body: Record<string, unknown> | null): string {
  if (body === null) return '';
  const messages = body['messages'];
  if (Array.isArray(messages) && messages.length > 0) {
    const last = messages[messages.length - 1] as { content?: unknown };
    return typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
  }
  const prompt = body['prompt'];
  return typeof prompt === 'string' ? prompt : JSON.stringify(prompt ?? '');
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startOpenAIEmulator(opts: EmulatorOptions): Promise<OpenAIEmulator> {
  const models = opts.models ?? [{ id: 'emulated-model', max_model_len: 4096 }];
  const keepLog = opts.keepLog ?? true;
  const log: EmulatorLogEntry[] = [];
  const byKey = new Map<string, EmulatorLogEntry>();
  const timers = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();
  const sockets = new Set<Socket>();

  const play = (res: http.ServerResponse, script: EmulatorScript, entry: EmulatorLogEntry): void => {
    res.writeHead(script.status ?? 200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      ...script.headers,
    });
    res.flushHeaders();
    let i = 0;
    let waited = -1; // index of the step whose delay has already elapsed
    const next = (): void => {
      while (i < script.steps.length) {
        const step = script.steps[i]!;
        if (step.delayMs !== undefined && waited !== i) {
          waited = i;
          if (step.delayMs > 0) {
            const t = setTimeout(() => {
              timers.delete(t);
              next();
            }, step.delayMs);
            timers.add(t);
          } else {
            // 0: yield one event-loop turn, so consecutive writes leave as separate reads
            const im = setImmediate(() => {
              immediates.delete(im);
              next();
            });
            immediates.add(im);
          }
          return;
        }
        i++;
        if (res.destroyed) return;
        if ('write' in step) {
          const ns = process.hrtime.bigint();
          if (step.firstToken) entry.firstTokenWriteNs = ns;
          res.write(typeof step.write === 'function' ? step.write(ns) : step.write);
          if (step.onFlushed) {
            res.socket?.uncork(); // node:http corked the socket for this write
            step.onFlushed(process.hrtime.bigint());
          }
        } else if ('destroy' in step) {
          // Like a crashed server: FIN after what was written (an immediate destroy would RST
          // and make the client's kernel drop bytes already delivered).
          res.socket?.destroySoon();
          entry.finishedNs = process.hrtime.bigint();
          return;
        } else {
          return; // stall: never answer again (closed with the server)
        }
      }
      entry.finishedNs = process.hrtime.bigint();
      res.end();
    };
    next();
  };

  const server = http.createServer((req, res) => {
    const arrivedNs = process.hrtime.bigint();
    if (opts.apiKey !== undefined && req.headers['authorization'] !== `Bearer ${opts.apiKey}`) {
      req.resume();
      sendJson(res, 401, { error: { message: 'invalid or missing API key', type: 'auth_error' } });
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      if (req.method === 'GET' && path === '/health') {
        const status = opts.healthStatus ?? 200;
        res.writeHead(status).end();
        return;
      }
      if (req.method === 'GET' && path === '/v1/models') {
        sendJson(res, 200, { object: 'list', data: models.map((m) => ({ object: 'model', owned_by: 'emulator', ...m })) });
        return;
      }
      if (req.method === 'GET' && path === '/metrics') {
        const text = opts.metrics?.() ?? null;
        if (text === null) sendJson(res, 404, { detail: 'Not Found' });
        else res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
        return;
      }
      if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/completions')) {
        let body: Record<string, unknown> | null = null;
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
          body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : null;
        } catch {
          body = null;
        }
        const key = requestKey(body);
        const entry: EmulatorLogEntry = { key, path, body, headers: req.headers, arrivedNs, firstTokenWriteNs: null, finishedNs: null };
        if (keepLog) {
          log.push(entry);
          byKey.set(key, entry);
        }
        let script: EmulatorScript;
        try {
          script = opts.respond({ method: req.method, path, headers: req.headers, body, key, arrivedNs });
        } catch (err) {
          sendJson(res, 500, { error: { message: `emulator script failed: ${(err as Error).message}` } });
          return;
        }
        play(res, script, entry);
        return;
      }
      sendJson(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.maxConnections = 100_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    entry: (key) => byKey.get(key),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const im of immediates) clearImmediate(im);
      immediates.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
