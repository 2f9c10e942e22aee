// Proxy variables are not followed (a proxy would add its latency to every measured request),
// so a run whose endpoint they would cover says so.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createOpenAIBackend } from '../../src/backends/openai/index.js';
import { proxyNotUsedWarning } from '../../src/backends/openai/proxy-env.js';

const plain = new URL('http://10.1.2.3:8000/v1/chat/completions');
const secure = new URL('https://gpu7.lab.example.com/v1/chat/completions');

describe('proxyNotUsedWarning', () => {
  it('names the variable that would apply to the scheme', () => {
    expect(proxyNotUsedWarning(plain, { HTTP_PROXY: 'http://proxy:3128' })).toMatch(/^HTTP_PROXY is set, but requests to 10\.1\.2\.3:8000 go directly.*add 10\.1\.2\.3 to NO_PROXY/);
    expect(proxyNotUsedWarning(secure, { https_proxy: 'http://proxy:3128' })).toMatch(/^https_proxy is set/);
    expect(proxyNotUsedWarning(secure, { ALL_PROXY: 'socks5://proxy:1080' })).toMatch(/^ALL_PROXY is set/);
  });

  it('says nothing without a proxy for the scheme, or when NO_PROXY covers the host', () => {
    expect(proxyNotUsedWarning(plain, {})).toBeNull();
    expect(proxyNotUsedWarning(plain, { HTTPS_PROXY: 'http://proxy:3128' })).toBeNull();
    expect(proxyNotUsedWarning(plain, { HTTP_PROXY: ' ' })).toBeNull();
    for (const noProxy of ['*', '10.1.2.3', 'localhost, 10.1.2.3:8000', ' 10.1.2.3 ']) {
      expect(proxyNotUsedWarning(plain, { HTTP_PROXY: 'http://proxy:3128', NO_PROXY: noProxy }), noProxy).toBeNull();
    }
    for (const noProxy of ['.example.com', 'example.com', '*.lab.example.com', 'GPU7.lab.example.com']) {
      expect(proxyNotUsedWarning(secure, { HTTPS_PROXY: 'http://proxy:3128', no_proxy: noProxy }), noProxy).toBeNull();
    }
    expect(proxyNotUsedWarning(secure, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'ample.com,10.1.2.3' })).not.toBeNull();
  });
});

it('open() puts the warning in the backend description (the runner makes it a run warning)', async () => {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/v1/models' ? JSON.stringify({ object: 'list', data: [{ id: 'm' }] }) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const saved = { HTTP_PROXY: process.env['HTTP_PROXY'], NO_PROXY: process.env['NO_PROXY'], no_proxy: process.env['no_proxy'], http_proxy: process.env['http_proxy'] };
  process.env['HTTP_PROXY'] = 'http://127.0.0.1:9';
  delete process.env['NO_PROXY'];
  delete process.env['no_proxy'];
  delete process.env['http_proxy'];
  const backend = createOpenAIBackend({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: '', socketThread: 'main' });
  try {
    const description = await backend.open(); // reached directly: the proxy address refuses connections
    expect(description.warnings).toEqual([expect.stringMatching(/^HTTP_PROXY is set, but requests to 127\.0\.0\.1:\d+ go directly/)]);
  } finally {
    await backend.close();
    server.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
