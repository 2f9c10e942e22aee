// The socket thread starts while the backend opens, not with the first request: its start-up
// (~75 ms for a worker) would otherwise be counted as the first wave's client queue time.
// A file of its own: module state (the process's socket threads) is fresh in each test file.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { createOpenAIBackend, socketThread } from '../../src/backends/openai/index.js';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(req.url === '/v1/models' ? JSON.stringify({ object: 'list', data: [{ id: 'm' }] }) : '{}');
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it.runIf(process.platform === 'linux')('open() returns with the worker socket thread already running', async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend = createOpenAIBackend({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: '', socketThread: 'worker' });
  try {
    await backend.open();
    // Before the fix, the thread was created here, by this call, and had not said 'started'.
    expect(socketThread('worker').tid).toEqual(expect.any(Number));
  } finally {
    await backend.close();
  }
});
