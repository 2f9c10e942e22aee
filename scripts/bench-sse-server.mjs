// A lean OpenAI-compatible streaming server for bench-sse.mjs, on raw `net` sockets.
//
// Why: the bench runs the stand-in server on the same 2 cores as the client under test. The
// scripted test emulator (node:http, one closure per step) spends ~50 % of a core at 1,024
// streams, and every cycle it takes is a cycle the client waits for. This server does the
// minimum a real server's network side does: parse the request head, write pre-encoded
// chunked SSE frames on per-stream timers. It speaks only what the bench's clients send
// (HTTP/1.1 keep-alive, Content-Length request bodies).
//
// Stream shape (per request; body fields bench_itl_ms, bench_first_ms [lo, hi], max_tokens):
// role chunk at once; token 1 after a uniform random delay, its text the server's
// process.hrtime.bigint() stamp taken just before the write ("<ns>|"); token 2 one ITL later,
// carrying the stamp taken once token 1's write call returned ("<ns>|"); tokens 3..n-1 " t";
// token n " end" with finish_reason "length"; a usage-only chunk; [DONE]; the chunked
// terminator. Every chunk carries continuous usage.

import { spawn } from 'node:child_process';
import net from 'node:net';

const MODEL = 'bench-model';

function chunkJson(choice, completion) {
  return JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: MODEL,
    choices: [{ index: 0, logprobs: null, ...choice }],
    usage: { prompt_tokens: 12, completion_tokens: completion, total_tokens: 12 + completion },
  });
}

/** One SSE event as one HTTP chunk (size line, data, CRLF). */
function frame(data) {
  const payload = Buffer.from(`data: ${data}\n\n`);
  return Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n')]);
}

const ROLE = frame(chunkJson({ delta: { role: 'assistant', content: '' }, finish_reason: null }, 0));
const TOKENS = Array.from({ length: 4097 }, (_, i) => frame(chunkJson({ delta: { content: ' t' }, finish_reason: null }, i)));
const STREAM_HEAD = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n');

function tail(n) {
  return Buffer.concat([
    frame(chunkJson({ delta: { content: ' end' }, finish_reason: 'length' }, n)),
    frame(JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', model: MODEL, choices: [], usage: { prompt_tokens: 12, completion_tokens: n, total_tokens: 12 + n } })),
    frame('[DONE]'),
    Buffer.from('0\r\n\r\n'),
  ]);
}

function jsonResponse(status, body) {
  const payload = Buffer.from(JSON.stringify(body));
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`), payload]);
}

/** Plays one stream on `socket`; calls `done` when the response is complete. */
function playStream(socket, body, done) {
  const n = Math.max(3, Math.min(4096, Number(body.max_tokens ?? 8)));
  const itl = Number(body.bench_itl_ms ?? 10);
  const [lo, hi] = body.bench_first_ms ?? [5, 20];
  socket.write(Buffer.concat([STREAM_HEAD, ROLE]));
  let flushedNs = 0n;
  let i = 1;
  const step = () => {
    if (socket.destroyed) return;
    if (i === 1) {
      const pre = process.hrtime.bigint();
      socket.write(frame(chunkJson({ delta: { content: `${pre}|` }, finish_reason: null }, 1)));
      flushedNs = process.hrtime.bigint(); // net writes go to the kernel inside write() when nothing is queued
    } else if (i === 2) {
      socket.write(frame(chunkJson({ delta: { content: `${flushedNs}|` }, finish_reason: null }, 2)));
    } else if (i < n) {
      socket.write(TOKENS[i]);
    } else {
      socket.write(tail(n));
      done();
      return;
    }
    i++;
    setTimeout(step, itl);
  };
  setTimeout(step, lo + Math.random() * (hi - lo));
}

function onConnection(socket) {
  socket.setNoDelay(true);
  let input = Buffer.alloc(0);
  let busy = false;
  const next = () => {
    if (busy) return;
    const headEnd = input.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = input.subarray(0, headEnd).toString('latin1');
    const [requestLine, ...headerLines] = head.split('\r\n');
    const [method, path] = requestLine.split(' ');
    let length = 0;
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === 'content-length') length = Number(line.slice(colon + 1));
      if (name === 'transfer-encoding') {
        socket.end(jsonResponse(400, { error: 'chunked request bodies are not supported by the bench server' }));
        return;
      }
    }
    if (input.length < headEnd + 4 + length) return;
    const bodyText = input.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
    input = input.subarray(headEnd + 4 + length);
    if (method === 'GET' && (path === '/health' || path === '/v1/health')) {
      socket.write(jsonResponse(200, {}));
    } else if (method === 'GET' && path.startsWith('/v1/models')) {
      socket.write(jsonResponse(200, { object: 'list', data: [{ id: MODEL, object: 'model' }] }));
    } else if (method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/completions')) {
      busy = true;
      playStream(socket, bodyText ? JSON.parse(bodyText) : {}, () => {
        busy = false;
        next();
      });
      return;
    } else {
      socket.write(jsonResponse(404, { error: `no route ${method} ${path}` }));
    }
    next();
  };
  socket.on('data', (d) => {
    input = input.length === 0 ? d : Buffer.concat([input, d]);
    next();
  });
  socket.on('error', () => {});
}

/** Starts the server on 127.0.0.1 (ephemeral port); resolves with its base URL and a close function. */
export function startLeanSseServer() {
  const server = net.createServer(onConnection);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/**
 * Starts the server in a child process (its own event loop and CPU time, as a real server's
 * would be); resolves with its base URL and the child, which the caller kills when done.
 */
export async function spawnLeanSseServer() {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { startLeanSseServer } = await import(${JSON.stringify(import.meta.url)}); console.log((await startLeanSseServer()).url);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
  return { url, child };
}
