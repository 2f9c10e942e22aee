// @ts-check
// Entry point of the socket thread: the socket host (socket-host.cjs) on a worker thread.
'use strict';

const { parentPort } = require('node:worker_threads');
const { createSocketHost } = require('./socket-host.cjs');

if (parentPort === null) throw new Error('socket-thread-worker.cjs runs only as a worker thread');
const port = parentPort;
const handle = createSocketHost((msg, transfer) => port.postMessage(msg, transfer ?? []), { pack: true });
port.on('message', handle);
