// The streaming transport (h1/ pool + socket host + stream-request) through createOpenAIBackend,
// against raw node:net servers on 127.0.0.1 that write exact bytes: framing variants, keep-alive
// reuse, maxSockets, broken servers, request bytes on the wire, and process lifetime. Every case
// runs with the sockets on their own thread ('worker') and on the main thread ('main').
// SSE-level behaviour is covered by openai-backend.test.ts (emulator); not repeated here.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAIBackend, type OpenAIBackend, type OpenAIBackendOptions } from '../../src/backends/openai/index.js';
import { buildStream, type BuiltStream } from '../../src/backends/openai/emulator-script.js';
import { H1Pool } from '../../src/backends/openai/h1/connection-pool.js';
import { streamRequest, type StreamResult } from '../../src/backends/openai/stream-request.js';
import type { GenerationSettings } from '../../src/backends/types.js';
import { startDelayedServer } from '../helpers/delayed-response-server.js';

const MODEL = 'raw/model';
const settings: GenerationSettings = { maxNewTokens: 8, minNewTokens: 0, temperature: 0 };

// ---- a raw HTTP/1.1 server: parses request heads (+ Content-Length bodies), answers per path ----

interface RawConn {
  id: number;
  socket: net.Socket;
  /** Carried a streaming POST (control GETs come from node:http's own agent). */
  stream: boolean;
  closed: boolean;
}

interface RawRequest {
  conn: RawConn;
  /** Request line and header lines exactly as received. */
  head: string;
  requestLine: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The last message's content (streaming requests): selects the scenario. */
  key: string;
}

type Scenario = (req: RawRequest, socket: net.Socket) => void;

class RawServer {
  readonly conns: RawConn[] = [];
  readonly posts: RawRequest[] = [];
  /** Most connections that carried a POST open at the same time. */
  maxOpenStreams = 0;
  private openStreams = 0;
  private nextId = 1;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(scenarios: Record<string, Scenario>): Promise<RawServer> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const raw = new RawServer(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => raw.accept(socket, scenarios));
    return raw;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  private accept(socket: net.Socket, scenarios: Record<string, Scenario>): void {
    const conn: RawConn = { id: this.nextId++, socket, stream: false, closed: false };
    this.conns.push(conn);
    socket.on('error', () => {}); // resets are part of the tests
    socket.on('close', () => {
      conn.closed = true;
      if (conn.stream) this.openStreams--;
    });
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const [requestLine, ...lines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = Buffer.from(buf.subarray(end + 4, end + 4 + length));
        buf = buf.subarray(end + 4 + length);
        this.answer({ conn, head, requestLine: requestLine!, headers, body, key: '' }, socket, scenarios);
      }
    });
  }

  private answer(req: RawRequest, socket: net.Socket, scenarios: Record<string, Scenario>): void {
    const [method, target] = req.requestLine.split(' ');
    if (method === 'GET') {
      const body = target === '/v1/models' ? JSON.stringify({ object: 'list', data: [{ id: MODEL }] }) : target === '/health' ? '' : 'not found';
      const status = target === '/v1/models' || target === '/health' ? '200 OK' : '404 Not Found';
      socket.write(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    if (!req.conn.stream) {
      req.conn.stream = true;
      this.openStreams++;
      this.maxOpenStreams = Math.max(this.maxOpenStreams, this.openStreams);
    }
    const parsed = JSON.parse(req.body.toString('utf8')) as { messages: { content: string }[] };
    req.key = parsed.messages[parsed.messages.length - 1]!.content;
    this.posts.push(req);
    const scenario = scenarios[req.key];
    if (scenario === undefined) throw new Error(`no scenario ${JSON.stringify(req.key)}`);
    scenario(req, socket);
  }

  /** Server-side connection ids of the POSTs whose key is `key`, in arrival order. */
  connsOf(key: string): number[] {
    return this.posts.filter((p) => p.key === key).map((p) => p.conn.id);
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- responses written as exact bytes ----

const stream: BuiltStream = buildStream({ tokens: ['Raw', ' by', 'tes', ' é世'], promptTokens: 5 });
const noDone: BuiltStream = buildStream({ tokens: ['no', ' done'], done: false });
/** The SSE events of a built stream as one string. */
const sseOf = (b: BuiltStream): string => b.steps.map((s) => ('write' in s && typeof s.write === 'string' ? s.write : '')).join('');
const SSE_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n';

/** Chunked: one chunk per event, each with an extension, the last chunk with an extension and a trailer. */
function chunkedResponse(b: BuiltStream, extraHeaders = ''): Buffer {
  const events = sseOf(b).split(/(?<=\n\n)/);
  const parts = events.map((e, i) => `${Buffer.byteLength(e).toString(16)};seq=${i};x\r\n${e}\r\n`);
  return Buffer.from(`${SSE_HEAD}transfer-encoding: chunked\r\n${extraHeaders}\r\n${parts.join('')}0;end=1\r\nx-trailer: done\r\n\r\n`, 'utf8');
}
function lengthResponse(b: BuiltStream, extraHeaders = ''): Buffer {
  const body = Buffer.from(sseOf(b), 'utf8');
  return Buffer.concat([Buffer.from(`${SSE_HEAD}content-length: ${body.length}\r\n${extraHeaders}\r\n`, 'latin1'), body]);
}
function closeDelimitedResponse(b: BuiltStream): Buffer {
  return Buffer.from(`${SSE_HEAD}\r\n${sseOf(b)}`, 'utf8');
}

/** Responses are written in one write so the terminator arrives with the last event (deterministic reuse). */
const scenarios: Record<string, Scenario> = {
  chunked: (_req, s) => s.write(chunkedResponse(stream)),
  length: (_req, s) => s.write(lengthResponse(stream)),
  'until close': (_req, s) => s.end(closeDelimitedResponse(stream)),
  'until close, finish_reason only': (_req, s) => s.end(closeDelimitedResponse(noDone)),
  'connection: close': (_req, s) => s.end(lengthResponse(stream, 'connection: close\r\n')),
  'slow 40 ms': (_req, s) => void setTimeout(() => s.write(chunkedResponse(stream)), 40),
  'slow 300 ms': (_req, s) => void setTimeout(() => s.write(chunkedResponse(stream)), 300),
  'garbage status line': (_req, s) => s.write('garbage from a confused proxy\r\n\r\n'),
  'bad chunk size': (_req, s) => s.write(`${SSE_HEAD}transfer-encoding: chunked\r\n\r\nzz\r\ndata: x\r\n`),
  'reset before a response': (_req, s) => s.resetAndDestroy(),
  // [DONE] sent, but the chunked body never ends and the socket stays open (measurement.md item 9).
  'done, never ends': (_req, s) => s.write(chunkedResponse(stream).subarray(0, -Buffer.byteLength('0;end=1\r\nx-trailer: done\r\n\r\n'))),
  // A 500 that says connection: close but leaves the socket open.
  '500, socket left open': (_req, s) => s.write('HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 4\r\n\r\nboom'),
  // A complete response, then stray bytes in the same write: the connection must not be reused.
  'stray bytes after the response': (_req, s) => s.write(Buffer.concat([chunkedResponse(stream), Buffer.from('GARBAGE')])),
  // A complete response, then stray bytes 10 ms later, while the connection is idle.
  'stray bytes while idle': (_req, s) => {
    s.write(chunkedResponse(stream));
    setTimeout(() => s.write('GARBAGE'), 10);
  },
  // A complete response, then stray bytes 30 ms later, while the next request is on the connection.
  'stray bytes later': (_req, s) => {
    s.write(chunkedResponse(stream));
    setTimeout(() => s.write('GARBAGE'), 30);
  },
  'close before a response': (_req, s) => s.destroy(),
};

function expectStreamOk(rec: { success: boolean; error?: string; text: string; completionTokens: number | null; promptTokens: number | null; httpStatus: number | null }, b: BuiltStream): void {
  expect(rec.error).toBeUndefined();
  expect(rec.success).toBe(true);
  expect(rec.httpStatus).toBe(200);
  expect(rec.text).toBe(b.expected.text);
  expect(rec.completionTokens).toBe(b.expected.completionTokens);
  expect(rec.promptTokens).toBe(b.expected.promptTokens);
}

/** Poll a condition the code under test reaches asynchronously (bounded; no fixed sleeps). */
async function until(what: string, cond: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

let server: RawServer;
beforeAll(async () => {
  server = await RawServer.start(scenarios);
});
afterAll(async () => {
  await server?.close();
});

it('an API key with a line break or a character outside latin1 is rejected when the backend is created', () => {
  expect(() => createOpenAIBackend({ endpoint: server.endpoint, apiKey: 'sk-abc\nX-Injected: 1', socketThread: 'main' })).toThrow(
    /HTTP header authorization contains a character not allowed in a header value \(U\+000A at position 13\)/,
  );
  expect(() => createOpenAIBackend({ endpoint: server.endpoint, apiKey: 'sk-abc\r', socketThread: 'main' })).toThrow(/U\+000D/);
  // A zero-width space would go out as byte 0x0B under latin1.
  expect(() => createOpenAIBackend({ endpoint: server.endpoint, apiKey: 'sk-abc\u200b', socketThread: 'main' })).toThrow(/U\+200B/);
  expect(() => createOpenAIBackend({ endpoint: server.endpoint, apiKey: 'sk-\tabc', socketThread: 'main' })).not.toThrow();
});

describe.each(['worker', 'main'] as const)('HTTP/1.1 transport against raw servers (socket thread: %s)', (placement) => {
  const backends: OpenAIBackend[] = [];
  const servers: RawServer[] = [];
  async function openBackend(target: RawServer, extra: Partial<OpenAIBackendOptions> = {}): Promise<OpenAIBackend> {
    const b = createOpenAIBackend({ endpoint: target.endpoint, apiKey: 'sk-test', requestTimeoutMs: 3_000, socketThread: placement, ...extra });
    backends.push(b);
    await b.open();
    return b;
  }
  async function extraServer(): Promise<RawServer> {
    const s = await RawServer.start(scenarios);
    servers.push(s);
    return s;
  }
  let backend: OpenAIBackend;
  beforeAll(async () => {
    backend = await openBackend(server);
  });
  afterAll(async () => {
    for (const b of backends) await b.close();
    for (const s of servers) await s.close();
  });
  const generate = (text: string, b: OpenAIBackend = backend) => b.generate({ index: 0, text }, settings);

  /** Streaming requests on a one-connection pool of this placement. */
  function slackClient(port: number): { request: () => Promise<StreamResult>; close: () => void } {
    const pool = new H1Pool(new URL(`http://127.0.0.1:${port}/v1/chat/completions`), { maxSockets: 1, idleTimeoutMs: 4_000, placement });
    const body = JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'x' }] });
    const request = () => streamRequest({ pool, path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body, timeoutMs: 3_000 });
    return { request, close: () => pool.destroy() };
  }
  const ttftMs = (r: StreamResult) => Number(r.proc!.contentChunks()[0]!.ns - r.startNs!) / 1e6;

  it('a chunked response with chunk extensions and a trailer gives the right text and usage', async () => {
    expectStreamOk(await generate('chunked'), stream);
  });

  it('a Content-Length (non-chunked) event stream succeeds', async () => {
    expectStreamOk(await generate('length'), stream);
  });

  it('a body delimited by connection close succeeds with [DONE], and with only a finish_reason', async () => {
    expectStreamOk(await generate('until close'), stream);
    const rec = await generate('until close, finish_reason only');
    expectStreamOk(rec, noDone);
    expect(rec.finishReason).toBe('stop');
  });

  it('request bytes on the wire: request line, host, content-length of the UTF-8 body, authorization', async () => {
    const before = server.posts.length;
    const rec = await backend.generate({ index: 3, text: 'chunked', messages: [{ role: 'user', content: 'chunked' }] }, settings);
    expectStreamOk(rec, stream);
    const req = server.posts[before]!;
    expect(req.requestLine).toBe('POST /v1/chat/completions HTTP/1.1');
    expect(req.headers['host']).toBe(`127.0.0.1:${server.port}`);
    expect(req.headers['content-length']).toBe(String(req.body.length));
    expect(req.headers['authorization']).toBe('Bearer sk-test');
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body.toString('utf8')) as { model: string; stream: boolean };
    expect(body.model).toBe(MODEL);
    expect(body.stream).toBe(true);
    // a non-ASCII prompt: content-length counts bytes, not characters
    const wide = 'é世🎉';
    const local = await extraServer();
    const seen: RawRequest[] = [];
    const b = await openBackend(local);
    const scenario = scenarios['chunked']!;
    scenarios[wide] = (r, s) => {
      seen.push(r);
      scenario(r, s);
    };
    try {
      expectStreamOk(await generate(wide, b), stream);
    } finally {
      delete scenarios[wide];
    }
    expect(Number(seen[0]!.headers['content-length'])).toBe(seen[0]!.body.length);
    expect(seen[0]!.body.length).toBeGreaterThan(seen[0]!.body.toString('utf8').length);
  });

  it('keep-alive: sequential requests share one TCP connection; Connection: close forces a new one each time', async () => {
    for (let i = 0; i < 4; i++) expectStreamOk(await generate(i % 2 === 0 ? 'chunked' : 'length'), stream);
    const reused = [...server.connsOf('chunked').slice(-2), ...server.connsOf('length').slice(-2)];
    expect(new Set(reused).size).toBe(1);

    for (let i = 0; i < 3; i++) expectStreamOk(await generate('connection: close'), stream);
    const closing = server.connsOf('connection: close').slice(-3);
    // the first may ride the idle keep-alive connection; every one after a close needs a new one
    expect(new Set(closing).size).toBe(3);
    expect(closing.slice(1).some((id) => reused.includes(id))).toBe(false);
    // after a close, keep-alive reuse picks up again on a new connection
    expectStreamOk(await generate('chunked'), stream);
    expectStreamOk(await generate('chunked'), stream);
    const after = server.connsOf('chunked').slice(-2);
    expect(after[0]).toBe(after[1]);
    expect(closing.includes(after[0]!)).toBe(false);
  });

  it('maxSockets 2: five concurrent requests never use more than two connections at once, and all succeed', async () => {
    const local = await extraServer();
    const b = await openBackend(local, { maxSockets: 2 });
    const recs = await Promise.all(Array.from({ length: 5 }, () => generate('slow 40 ms', b)));
    for (const r of recs) expectStreamOk(r, stream);
    expect(local.maxOpenStreams).toBe(2);
    expect(new Set(local.connsOf('slow 40 ms')).size).toBe(2);
  });

  it('stamp slack: a first token that arrives while the stamping thread is blocked is flagged; a calm one is not', async () => {
    // The server runs in a child process: a server on this thread would be blocked too.
    const whole = chunkedResponse(stream);
    const openerEnd = whole.indexOf('\r\n', whole.indexOf('data:')) + 2; // head + the role-only opener's chunk
    const server = await startDelayedServer({ first: whole.subarray(0, openerEnd), rest: whole.subarray(openerEnd), firstMs: 0, restMs: 120 });
    try {
      const { request, close } = slackClient(server.port);
      try {
        await request(); // warm-up: connection open, and no spawn or setup in the calm request's window
        const calm = await request();
        expect(calm.proc?.text).toBe(stream.expected.text);
        expect(ttftMs(calm)).toBeGreaterThan(110);
        expect(calm.proc!.firstChunkSlackMs!).toBeLessThan(30);

        const pending = request();
        await new Promise((r) => setTimeout(r, 40)); // request out, head and opener read
        const until = performance.now() + 150;
        while (performance.now() < until) {
          /* this thread is blocked across the token's arrival, on purpose */
        }
        const blocked = await pending;
        expect(blocked.proc?.text).toBe(stream.expected.text);
        if (placement === 'main') {
          // Stamped when the thread came back (~70 ms late); the slack bounds that lateness.
          expect(ttftMs(blocked)).toBeGreaterThan(170);
          expect(blocked.proc!.firstChunkSlackMs!).toBeGreaterThan(ttftMs(blocked) - 125);
        } else {
          // The socket thread was free: stamped on arrival, with no slack to speak of.
          expect(ttftMs(blocked)).toBeLessThan(170);
          expect(blocked.proc!.firstChunkSlackMs!).toBeLessThan(30);
        }
      } finally {
        close();
      }
    } finally {
      server.kill();
    }
  });

  it('a garbage status line is a recorded failure naming it', async () => {
    const rec = await generate('garbage status line');
    expect(rec.success).toBe(false);
    expect(rec.httpStatus).toBeNull();
    // The shared backend's connection has carried earlier requests, hence the optional hint.
    expect(rec.error).toMatch(/^malformed HTTP response( \(on a reused keep-alive connection: [^)]*\))?: not an HTTP\/1\.x response \(status line: "garbage from a confused proxy"\)$/);
  });

  it('a bad chunk size is a recorded failure naming it', async () => {
    const rec = await generate('bad chunk size');
    expect(rec.success).toBe(false);
    expect(rec.httpStatus).toBe(200);
    expect(rec.error).toBe('malformed HTTP response after 0 content chunk(s): invalid chunk size "zz"');
  });

  it('a reset or a close before any response byte is a failure "request failed before a response…"', async () => {
    const reset = await generate('reset before a response');
    expect(reset.success).toBe(false);
    expect(reset.error).toBe(`request failed before a response: connection reset by the server (http://127.0.0.1:${server.port})`);
    const closed = await generate('close before a response');
    expect(closed.success).toBe(false);
    expect(closed.error).toBe('request failed before a response: connection closed before any response byte');
    // the pool is still usable afterwards
    expectStreamOk(await generate('chunked'), stream);
  });

  it('connection refused (the server went away after open) is a failure naming the refusal', async () => {
    const gone = await extraServer();
    const b = await openBackend(gone);
    await gone.close();
    const rec = await generate('chunked', b);
    expect(rec.success).toBe(false);
    expect(rec.error).toBe(`request failed before a response: connection refused by http://127.0.0.1:${gone.port} (is the server running?)`);
  });

  describe('the pool (H1Pool + streamRequest; pool.size shows what the client has seen)', () => {
    const poolArgs = (pool: H1Pool, key: string) => ({
      pool,
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: key }] }),
      timeoutMs: 3_000,
    });
    async function withPool(opts: { maxSockets?: number; idleTimeoutMs?: number }, fn: (pool: H1Pool, local: RawServer) => Promise<void>): Promise<void> {
      const local = await extraServer();
      const pool = new H1Pool(new URL(`${local.endpoint}/chat/completions`), { maxSockets: opts.maxSockets ?? 4, idleTimeoutMs: opts.idleTimeoutMs ?? 4_000, placement });
      try {
        await fn(pool, local);
      } finally {
        pool.destroy();
      }
    }
    async function ok(pool: H1Pool, key: string): Promise<void> {
      const r = await streamRequest(poolArgs(pool, key));
      expect(r.error).toBeUndefined();
      expect(r.proc?.outcome.state).toBe('done');
      expect(r.proc?.text).toBe(stream.expected.text);
    }

    it('drops an idle keep-alive connection the server closed; the next request uses a new one', async () => {
      await withPool({}, async (pool, local) => {
        await ok(pool, 'chunked');
        await until('the connection to go idle in the pool', () => pool.size === 1);
        local.posts[0]!.conn.socket.end(); // the server's keep-alive timeout
        await until('the client to see the close', () => pool.size === 0);
        await ok(pool, 'chunked');
        expect(local.posts.length).toBe(2);
        expect(local.posts[1]!.conn.id).not.toBe(local.posts[0]!.conn.id);
      });
    });

    it('closes a connection idle longer than idleTimeoutMs', async () => {
      await withPool({ idleTimeoutMs: 30 }, async (pool, local) => {
        await ok(pool, 'chunked');
        await until('the idle timeout to close the connection', () => pool.size === 0);
        await until('the server to see the close', () => local.posts[0]!.conn.closed);
      });
    });

    it('hands out the most recently released idle connection first (LIFO)', async () => {
      await withPool({}, async (pool, local) => {
        // two connections at once; the fast one is released first, the slow one last
        await Promise.all([ok(pool, 'slow 40 ms'), ok(pool, 'chunked')]);
        const slowConn = local.posts.find((p) => p.key === 'slow 40 ms')!.conn.id;
        expect(local.posts.find((p) => p.key === 'chunked')!.conn.id).not.toBe(slowConn);
        await ok(pool, 'chunked');
        expect(local.posts[2]!.conn.id).toBe(slowConn);
      });
    });

    it('close() fails the request in flight and the one waiting for a connection, naming the reason', async () => {
      await withPool({ maxSockets: 1 }, async (pool, local) => {
        const inFlight = streamRequest(poolArgs(pool, 'slow 300 ms'));
        const waiting = streamRequest(poolArgs(pool, 'slow 300 ms'));
        await until('the first request to reach the server', () => local.posts.length === 1);
        pool.destroy();
        const [a, b] = await Promise.all([inFlight, waiting]);
        expect(a.error).toBe('request failed before a response: the backend was closed');
        expect(b.error).toBe('request could not be sent: the backend was closed');
        expect(b.startNs).toBeNull();
      });
    });

    it('a response that never ends after [DONE] does not hold a waiting request for the 2 s grace', async () => {
      await withPool({ maxSockets: 1 }, async (pool) => {
        const t0 = performance.now();
        const results = await Promise.all([streamRequest(poolArgs(pool, 'done, never ends')), streamRequest(poolArgs(pool, 'chunked'))]);
        for (const r of results) expect(r.proc?.outcome.state).toBe('done');
        expect(performance.now() - t0).toBeLessThan(1_000);
      });
    });

    it('stray bytes after a response: in the same read the connection is dropped; later, the next request fails saying why', async () => {
      await withPool({ maxSockets: 1 }, async (pool, local) => {
        await ok(pool, 'stray bytes after the response');
        await ok(pool, 'chunked');
        expect(local.posts[1]!.conn.id).not.toBe(local.posts[0]!.conn.id);
        await ok(pool, 'stray bytes later');
        const next = await streamRequest(poolArgs(pool, 'slow 300 ms'));
        expect(next.error).toMatch(/^malformed HTTP response \(on a reused keep-alive connection: the bytes may be left over from the previous response\): not an HTTP\/1\.x response/);
      });
    });

    it('stray bytes on an idle connection: it is dropped and the next request gets a new one', async () => {
      await withPool({ maxSockets: 1 }, async (pool, local) => {
        await ok(pool, 'stray bytes while idle');
        await until('the stray bytes to arrive and the connection to be dropped', () => pool.size === 0);
        await ok(pool, 'chunked');
        expect(local.posts[1]!.conn.id).not.toBe(local.posts[0]!.conn.id);
      });
    });

    it('a waiter takes the slot of one lingering connection, not of every lingering connection', async () => {
      await withPool({ maxSockets: 2 }, async (pool, local) => {
        const lingering = [streamRequest(poolArgs(pool, 'done, never ends')), streamRequest(poolArgs(pool, 'done, never ends'))];
        for (const r of await Promise.all(lingering)) expect(r.proc?.outcome.state).toBe('done');
        await ok(pool, 'chunked'); // waits: both slots are held by connections after [DONE]
        await new Promise((r) => setTimeout(r, 100)); // well past the 20 ms linger for waiters
        const firstTwo = [local.posts[0]!.conn, local.posts[1]!.conn];
        expect(firstTwo.filter((c) => c.closed)).toHaveLength(1); // one given up, the other still lingering
        expect(local.posts[2]!.conn.id).not.toBe(firstTwo[0]!.id);
      });
    });

    it('maxSockets 1: a second request waits for the busy connection and then reuses it', async () => {
      await withPool({ maxSockets: 1 }, async (pool, local) => {
        await Promise.all([ok(pool, 'slow 40 ms'), ok(pool, 'chunked'), ok(pool, 'chunked')]);
        expect(local.maxOpenStreams).toBe(1);
        expect(new Set(local.posts.map((p) => p.conn.id)).size).toBe(1);
        expect(pool.size).toBe(1);
      });
    });
  });
});

// ---- process lifetime: a child importing the compiled transport (children cannot import .ts) ----

describe.each(['worker', 'main'] as const)('process lifetime (socket thread: %s)', (placement) => {
  const dist = fileURLToPath(new URL('../../dist/backends/openai/index.js', import.meta.url));
  let dir: string;
  let script: string;
  beforeAll(() => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run "npx tsc -p ." first (npm test does it in pretest)`);
    dir = mkdtempSync(join(tmpdir(), 'h1-transport-'));
    script = join(dir, 'child.mjs');
    // requestTimeoutMs 0: no request timer, so only the transport can keep the child alive.
    writeFileSync(
      script,
      `import { createOpenAIBackend } from ${JSON.stringify(pathToFileURL(dist).href)};
const [endpoint, placement, key] = process.argv.slice(2);
const b = createOpenAIBackend({ endpoint, socketThread: placement, requestTimeoutMs: 0, apiKey: '' });
const described = await b.open();
if (key === '') {
  await b.close(); // no streaming request ever ran
  process.stdout.write(JSON.stringify({ placement: described.details.socketThread }));
} else if (key.includes('|')) {
  // Several requests one after another on one connection slot (as load.mode sequential).
  const b1 = createOpenAIBackend({ endpoint, socketThread: placement, requestTimeoutMs: 0, maxSockets: 1 });
  await b1.open();
  const results = [];
  for (const k of key.split('|')) {
    const r = await b1.generate({ index: results.length, text: k }, { maxNewTokens: 8, minNewTokens: 0, temperature: 0 });
    results.push({ success: r.success, error: r.error ?? null, queueMs: r.queueMs });
  }
  await b1.close();
  await b.close();
  process.stdout.write(JSON.stringify({ results }));
} else {
const rec = await b.generate({ index: 0, text: key }, { maxNewTokens: 8, minNewTokens: 0, temperature: 0 });
await b.close();
process.stdout.write(JSON.stringify({ placement: described.details.socketThread, success: rec.success, text: rec.text, error: rec.error ?? null }));
}
`,
    );
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function runChild(key: string, killAfterMs = 8_000): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [script, server.endpoint, placement, key], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs); // a child that never exits fails, never hangs
      child.on('exit', (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, out, err });
      });
    });
  }

  it('after backend.close() the child exits by itself', async () => {
    const r = await runChild('chunked');
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ placement, success: true, text: stream.expected.text, error: null });
  });

  // Regression: the worker was unref'd before its 'message' listener was added (which refs it
  // again), so a process that opened and closed a backend without streaming never exited.
  it('a child that opens and closes the backend without a streaming request exits by itself', async () => {
    const r = await runChild('', 1_500);
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ placement });
  });

  it('sequential requests whose predecessor freed its connection badly all settle before the child exits', async () => {
    // Regression: the socket thread was ref'd only while a connection had an owner, so a request
    // waiting for the slot a closing connection was about to free could be left behind at exit.
    const r = await runChild('done, never ends|done, never ends|500, socket left open|chunked');
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    const { results } = JSON.parse(r.out) as { results: { success: boolean; error: string | null; queueMs: number }[] };
    expect(results.map((x) => x.success)).toEqual([true, true, false, true]);
    expect(results[2]!.error).toBe('HTTP 500 Internal Server Error: boom');
    // Not the 2 s after-[DONE] grace: a waiting request takes the slot of a lingering connection.
    for (const x of results) expect(x.queueMs).toBeLessThan(500);
  });

  it('a child whose only pending work is an in-flight request to a slow server waits for it', async () => {
    // If nothing kept the loop alive during the 300 ms wait, the child would exit with code 13
    // (unsettled top-level await) and print nothing.
    const r = await runChild('slow 300 ms');
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ placement, success: true, text: stream.expected.text, error: null });
  });
});
