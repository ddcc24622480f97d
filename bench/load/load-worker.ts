import { connect as connectTcp } from 'node:net';
import WebSocket from 'ws';

/**
 * The client side of every benchmark, in a process of its own so client and server each
 * get a core. Commands arrive over IPC; each answers with counts, never with judgments.
 */
type Command =
  | { type: 'handshakes'; url: string; headers: Record<string, string>; durationMs: number; concurrency: number }
  | { type: 'roundtrips'; url: string; headers: Record<string, string>; durationMs: number; sockets: number; inflight: number }
  | { type: 'openIdle'; url: string; headers: Record<string, string>; count: number; concurrency: number }
  | { type: 'closeIdle' }
  | { type: 'stop' };

const idle: WebSocket[] = [];

process.on('message', async (command: Command) => {
  if (command.type === 'stop') process.exit(0);
  const result = await run(command);
  process.send!({ type: 'result', ...result });
});
process.send!({ type: 'ready' });

async function run(command: Exclude<Command, { type: 'stop' }>): Promise<Record<string, unknown>> {
  switch (command.type) {
    case 'handshakes':
      return handshakes(command);
    case 'roundtrips':
      return roundTrips(command);
    case 'openIdle':
      return openIdle(command);
    case 'closeIdle':
      return closeIdle();
  }
}

/**
 * One handshake over a raw socket: a prebuilt request, the status line, then destroy. A full
 * WebSocket client costs as much CPU as the server, and would make the client the bottleneck.
 */
function attempt(port: number, request: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    let head = '';
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n')) return;
      socket.destroy();
      resolve(Number(head.slice(9, 12)) || 0);
    });
    socket.on('error', () => resolve(0));
    socket.on('close', () => resolve(0));
    socket.write(request);
  });
}

function upgradeRequest(url: string, headers: Record<string, string>): { port: number; request: Buffer } {
  const { port, pathname, host } = new URL(url);
  const lines = [
    `GET ${pathname} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return { port: Number(port), request: Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1') };
}

async function handshakes({ url, headers, durationMs, concurrency }: Extract<Command, { type: 'handshakes' }>) {
  const { port, request } = upgradeRequest(url, headers);
  const statuses: Record<number, number> = {};
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const status = await attempt(port, request);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = Object.values(statuses).reduce((sum, n) => sum + n, 0);
  return { perSecond: total / seconds, statuses };
}

async function roundTrips({ url, headers, durationMs, sockets, inflight }: Extract<Command, { type: 'roundtrips' }>) {
  const open = await Promise.all(Array.from({ length: sockets }, () => connect(url, headers)));
  const frame = JSON.stringify({ event: 'ping', data: null });
  let replies = 0;
  let wrong = 0;
  let running = true;
  const started = performance.now();
  for (const socket of open) {
    socket.on('message', (data) => {
      if (data.toString() === '{"event":"ping","data":"pong"}') replies++;
      else wrong++;
      if (running) socket.send(frame);
    });
    for (let i = 0; i < inflight; i++) socket.send(frame);
  }
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  running = false;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(open.map(close));
  return { perSecond: replies / seconds, wrong };
}

function connect(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
  });
}

function close(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once('close', () => resolve());
    socket.close();
  });
}

async function openIdle({ url, headers, count, concurrency }: Extract<Command, { type: 'openIdle' }>) {
  const started = performance.now();
  for (let opened = 0; opened < count;) {
    const batch = Math.min(concurrency, count - opened);
    idle.push(...(await Promise.all(Array.from({ length: batch }, () => connect(url, headers)))));
    opened += batch;
  }
  return { open: idle.length, seconds: (performance.now() - started) / 1000 };
}

async function closeIdle() {
  const sockets = idle.splice(0);
  await Promise.all(sockets.map(close));
  return { closed: sockets.length };
}
