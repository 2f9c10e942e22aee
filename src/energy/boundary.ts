// Which work the sensors of this machine can speak for. They read this machine only: a model
// served from another machine (an endpoint whose host is not loopback) draws energy that no
// sensor here sees. Host names other than localhost are not resolved: nothing shows they are
// this machine, so they count as another one.
import { BlockList, isIP } from 'node:net';
import type { BackendDescription } from '../backends/types.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** localhost, 127.0.0.0/8, ::1 (IPv4-mapped 127.x included); URL brackets and a trailing dot allowed. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  if (h === 'localhost') return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Host of the server doing the work when it is another machine; null when the work runs here
 * (no endpoint in the description: an in-process backend; or a loopback endpoint). An endpoint
 * that is not a URL is returned as it is: it is not shown to be this machine.
 */
export function remoteServerHost(backend: BackendDescription | null | undefined): string | null {
  const endpoint = backend?.details?.['endpoint'];
  if (typeof endpoint !== 'string') return null;
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return endpoint;
  }
  return isLoopbackHost(host) ? null : host;
}
