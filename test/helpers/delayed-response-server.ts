// Starts test/helpers/delayed-response-server.cjs (see there) in a child process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface DelayedServer {
  port: number;
  kill: () => void;
}

export async function startDelayedServer(opts: {
  tls?: { keyFile: string; certFile: string };
  first: Buffer;
  rest: Buffer;
  firstMs: number;
  restMs: number;
}): Promise<DelayedServer> {
  const args = [
    join(import.meta.dirname, 'delayed-response-server.cjs'),
    opts.tls ? 'tls' : 'tcp',
    opts.tls?.keyFile ?? '-',
    opts.tls?.certFile ?? '-',
    opts.first.toString('base64'),
    opts.rest.toString('base64'),
    String(opts.firstMs),
    String(opts.restMs),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d)))));
  return { port, kill: () => child.kill() };
}
