// The streaming transport over TLS, for both socket placements: a private CA through the `ca`
// option, and the request start of a request on a new connection stamped when the handshake
// has finished (the wait for the connection is client queue time, not TTFT). A throwaway
// self-signed certificate is made with openssl for each run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAIBackend } from '../../src/backends/openai/index.js';
import { H1Pool } from '../../src/backends/openai/h1/connection-pool.js';
import { streamRequest } from '../../src/backends/openai/stream-request.js';
import { buildStream } from '../../src/backends/openai/emulator-script.js';
import { EXIT } from '../../src/cli/errors.js';
import { createBackend } from '../../src/cli/wiring.js';
import { loadConfig } from '../../src/config/load.js';
import { startDelayedServer } from '../helpers/delayed-response-server.js';
import { haveCommand } from '../helpers/have-command.js';

const MODEL = 'tls-model';
const HANDSHAKE_DELAY_MS = 250;
const stream = buildStream({ tokens: ['Se', 'cure', ' é'], promptTokens: 4 });
const sse = stream.steps.map((s) => ('write' in s && typeof s.write === 'string' ? s.write : '')).join('');


let dir: string;
let cert: string;
let server: https.Server;
let proxy: net.Server;
let direct: string;
let delayed: string;

/** Forwards to the server, holding back the server's first bytes (its ServerHello) for a while. */
function delayingProxy(port: number): net.Server {
  return net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    client.pipe(upstream);
    let first = true;
    upstream.on('data', (d: Buffer) => {
      if (!first) return void client.write(d);
      first = false;
      upstream.pause();
      setTimeout(() => {
        client.write(d);
        upstream.resume();
      }, HANDSHAKE_DELAY_MS);
    });
    upstream.on('end', () => client.end());
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
  });
}

const listen = (s: net.Server): Promise<number> =>
  new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));

describe.skipIf(!haveCommand('openssl', 'version'))('HTTP/1.1 transport over TLS', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aeb-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url === '/v1/models' ? JSON.stringify({ object: 'list', data: [{ id: MODEL }] }) : '{}');
        return;
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(sse);
      });
    });
    const port = await listen(server);
    direct = `https://127.0.0.1:${port}/v1`;
    proxy = delayingProxy(port);
    delayed = `https://127.0.0.1:${await listen(proxy)}/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const settings = { maxNewTokens: 8, minNewTokens: 0, temperature: 0 };

  it('config backend.ca_file: read at backend creation; a missing file or a file without a certificate is a usage error', async () => {
    const base = ['backend.type=vllm', `backend.endpoint=${direct}`, `backend.model=${MODEL}`];
    const ctx = { modelName: MODEL, reasoning: null };
    const { config } = await loadConfig({ overrides: [...base, `backend.ca_file=${join(dir, 'cert.pem')}`] });
    const b = await createBackend(config, ctx);
    try {
      await b.open();
      expect((await b.generate({ index: 0, text: 'hi' }, settings)).text).toBe(stream.expected.text);
    } finally {
      await b.close();
    }
    const missing = (await loadConfig({ overrides: [...base, `backend.ca_file=${join(dir, 'nope.pem')}`] })).config;
    await expect(createBackend(missing, ctx)).rejects.toMatchObject({ exitCode: EXIT.USAGE, message: expect.stringMatching(/^backend\.ca_file: cannot read .*nope\.pem/) });
    const notPem = (await loadConfig({ overrides: [...base, `backend.ca_file=${join(dir, 'key.pem')}`] })).config;
    await expect(createBackend(notPem, ctx)).rejects.toMatchObject({ message: expect.stringMatching(/holds no PEM certificate/) });
  });

  it('an untrusted certificate is refused with a message naming it', async () => {
    const b = createOpenAIBackend({ endpoint: direct, socketThread: 'main' });
    try {
      await expect(b.open()).rejects.toThrow(/cannot reach the server at https:\/\/127\.0\.0\.1:\d+: .*self-signed certificate.*backend\.ca_file, or NODE_EXTRA_CA_CERTS/);
    } finally {
      await b.close();
    }
  });

  describe.each(['worker', 'main'] as const)('socket thread: %s', (placement) => {
    it('streams through a private CA given as `ca`', async () => {
      const b = createOpenAIBackend({ endpoint: direct, ca: cert, socketThread: placement, requestTimeoutMs: 10_000 });
      try {
        await b.open();
        const rec = await b.generate({ index: 0, text: 'hi' }, settings);
        expect(rec.error).toBeUndefined();
        expect(rec.text).toBe(stream.expected.text);
        expect(rec.completionTokens).toBe(stream.expected.completionTokens);
      } finally {
        await b.close();
      }
    });

    it('on a new connection the request starts when the handshake is done: the wait is queue time, not TTFT', async () => {
      const b = createOpenAIBackend({ endpoint: delayed, ca: cert, socketThread: placement, requestTimeoutMs: 10_000 });
      try {
        await b.open();
        const first = await b.generate({ index: 0, text: 'hi' }, settings); // opens the stream connection
        expect(first.error).toBeUndefined();
        expect(first.queueMs).toBeGreaterThanOrEqual(HANDSHAKE_DELAY_MS - 10);
        expect(first.ttftMs!).toBeLessThan(HANDSHAKE_DELAY_MS / 2);
        const second = await b.generate({ index: 1, text: 'hi' }, settings); // reuses it
        expect(second.error).toBeUndefined();
        expect(second.queueMs).toBeLessThan(HANDSHAKE_DELAY_MS / 2);
      } finally {
        await b.close();
      }
    });

    it('a CA that is not a valid certificate fails the request with the reason; the socket host lives on', async () => {
      const bad = '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n';
      const args = (pool: H1Pool) => ({
        pool, path: '/v1/chat/completions', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] }), timeoutMs: 5_000,
      });
      const badPool = new H1Pool(new URL(`${direct}/chat/completions`), { maxSockets: 1, idleTimeoutMs: 1_000, placement, ca: bad });
      const goodPool = new H1Pool(new URL(`${direct}/chat/completions`), { maxSockets: 1, idleTimeoutMs: 1_000, placement, ca: cert });
      try {
        const r = await streamRequest(args(badPool));
        expect(r.error).toMatch(/^request failed before a response: .+/);
        expect(r.startNs).toBeNull();
        const ok = await streamRequest(args(goodPool));
        expect(ok.error).toBeUndefined();
        expect(ok.proc?.text).toBe(stream.expected.text);
      } finally {
        badPool.destroy();
        goodPool.destroy();
      }
    });

    it('a timeout during the handshake says the request was still connecting', async () => {
      const b = createOpenAIBackend({ endpoint: delayed, ca: cert, socketThread: placement, requestTimeoutMs: 10_000 });
      try {
        await b.open();
        const rec = await b.generate({ index: 0, text: 'hi' }, { ...settings, timeoutMs: 100 });
        expect(rec.success).toBe(false);
        expect(rec.error).toBe('request timed out after 100 ms (connecting to the server)');
      } finally {
        await b.close();
      }
    });
  });

  it('stamp slack over TLS: a first token read in the same TCP read as the opener still carries the blocked time', async () => {
    // Head + opener at 60 ms, the content at 120 ms: two TLS records, both arriving while the
    // main thread is blocked (40-190 ms), so they come in one TCP read and reach JS as two reads
    // microseconds apart; the content's lateness (~70 ms) must still show in its slack.
    const first = `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: ${Buffer.byteLength(sse)}\r\n\r\n`;
    const opener = sse.slice(0, sse.indexOf('\n\n') + 2);
    const slow = await startDelayedServer({
      tls: { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem') },
      first: Buffer.from(first + opener),
      rest: Buffer.from(sse.slice(opener.length)),
      firstMs: 60,
      restMs: 120,
    });
    try {
      const pool = new H1Pool(new URL(`https://127.0.0.1:${slow.port}/v1/chat/completions`), { maxSockets: 1, idleTimeoutMs: 4_000, placement: 'main', ca: cert });
      const request = () => streamRequest({ pool, path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs: 5_000 });
      try {
        await request(); // handshake done, connection kept
        const pending = request();
        await new Promise((r) => setTimeout(r, 40));
        const until = performance.now() + 150;
        while (performance.now() < until) {
          /* the stamping thread is blocked across the content's arrival, on purpose */
        }
        const r = await pending;
        expect(r.proc?.text).toBe(stream.expected.text);
        const ttftMs = Number(r.proc!.contentChunks()[0]!.ns - r.startNs!) / 1e6;
        expect(ttftMs).toBeGreaterThan(170);
        expect(r.proc!.firstChunkSlackMs!).toBeGreaterThan(ttftMs - 125);
      } finally {
        pool.destroy();
      }
    } finally {
      slow.kill();
    }
  });
});
