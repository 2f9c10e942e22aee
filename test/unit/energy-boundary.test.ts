import { expect, it } from 'vitest';
import { isLoopbackHost, remoteServerHost } from '../../src/energy/boundary.js';

it('treats localhost, *.localhost, 127.0.0.0/8, ::1 and the unspecified addresses (as URLs write them) as this machine, and nothing else', () => {
  for (const h of ['localhost', 'LOCALHOST', 'localhost.', 'vllm.localhost', '127.0.0.1', '127.255.0.9', '::1', '[::1]', '[::ffff:7f00:1]', '0.0.0.0', '::', '[::]'])
    expect([h, isLoopbackHost(h)]).toEqual([h, true]);
  for (const h of ['10.0.0.1', '128.0.0.1', '0.0.0.1', '[::2]', 'localhost.example.com', 'notlocalhost', 'my-gpu-box', ''])
    expect([h, isLoopbackHost(h)]).toEqual([h, false]);
});

it('finds the remote server host from the backend description\'s endpoint', () => {
  const d = (endpoint: unknown) => ({ backend: 'openai', model: 'm', details: { endpoint } });
  expect(remoteServerHost(d('http://127.0.0.1:8000/v1'))).toBeNull();
  expect(remoteServerHost(d('http://127.1:8000/v1'))).toBeNull(); // WHATWG URL: 127.0.0.1
  expect(remoteServerHost(d('http://[::1]:8000/v1'))).toBeNull();
  expect(remoteServerHost(d('http://gpu-box:8000/v1'))).toBe('gpu-box');
  expect(remoteServerHost(d('https://[2001:db8::1]/v1'))).toBe('[2001:db8::1]');
  expect(remoteServerHost(d('not a url'))).toBe('not a url');
  expect(remoteServerHost({ backend: 'native', model: 'm', device: 'cpu' })).toBeNull();
  expect(remoteServerHost(null)).toBeNull();
});
