// A server for the stamp-slack tests, run as a child process so that blocking the test's own
// thread cannot delay its writes. Every request (head + Content-Length body) on a connection
// is answered with two payloads, each after its own delay.
// argv: tcp|tls, key file, cert file ('-' for tcp), payload 1 and 2 (base64), delay 1 and 2 (ms).
// Prints its port on stdout once it listens on 127.0.0.1.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');

const [mode, keyFile, certFile, firstB64, restB64, firstMs, restMs] = process.argv.slice(2);
const first = Buffer.from(firstB64, 'base64');
const rest = Buffer.from(restB64, 'base64');

function answer(socket) {
  let buf = '';
  socket.on('error', () => {});
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      buf = buf.slice(end + 4 + length);
      setTimeout(() => socket.write(first), Number(firstMs));
      setTimeout(() => socket.write(rest), Number(restMs));
    }
  });
}

const server =
  mode === 'tls'
    ? tls.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, answer)
    : net.createServer(answer);
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port)));
