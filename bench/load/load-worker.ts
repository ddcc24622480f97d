import { connect as connectTcp } from 'node:net';
import { createSigner } from 'fast-jwt';
import WebSocket from 'ws';

/**
 * The client side of every benchmark, in a process of its own so client and server each
 * get a core. Commands arrive over IPC; each answers with counts, never with judgments.
 */
type Command =
  | { type: 'signTokens'; pool: string; algorithm: 'HS256' | 'RS256'; key: string; kid?: string; claims: Record<string, unknown>; count: number }
  | { type: 'handshakes'; url: string; credential: Credential; durationMs: number; concurrency: number }
  | { type: 'roundtrips'; url: string; headers: Record<string, string>; durationMs: number; sockets: number; inflight: number }
  | { type: 'openIdle'; url: string; headers: Record<string, string>; count: number; concurrency: number }
  | { type: 'closeIdle' }
  | { type: 'stop' };

/**
 * The bearer token of each handshake: always `token`, or the next one of a pool signed before
 * the timed rounds (`signTokens`), so no handshake finds its token in the server's cache of
 * verified tokens. `badSignature` spoils the last characters of each signature.
 */
export type Credential = { token: string } | { pool: string; badSignature?: boolean };

const idle: WebSocket[] = [];
const pools = new Map<string, string[]>();
/** The next token of each pool for each server and kind of credential: a pool is walked once per server process. */
const cursors = new Map<string, number>();

process.on('message', async (command: Command) => {
  if (command.type === 'stop') process.exit(0);
  const result = await run(command);
  process.send!({ type: 'result', ...result });
});
process.send!({ type: 'ready' });

async function run(command: Exclude<Command, { type: 'stop' }>): Promise<Record<string, unknown>> {
  switch (command.type) {
    case 'signTokens':
      return signTokens(command);
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
 * One handshake over a raw socket: the request, the status line, then destroy. A full
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

/**
 * Tokens `0..count-1` of a pool, each told apart by its `jti`, signed here before any timed
 * round: signing an RS256 token costs about 0.3 ms, which would otherwise load the client.
 */
function signTokens({ pool, algorithm, key, kid, claims, count }: Extract<Command, { type: 'signTokens' }>) {
  const started = performance.now();
  const sign = createSigner({ key, algorithm, kid, expiresIn: 3_600_000 });
  pools.set(
    pool,
    Array.from({ length: count }, (_, i) => sign({ ...claims, jti: `${pool}-${i}` })),
  );
  return { count, seconds: (performance.now() - started) / 1000 };
}

/** The token for one handshake, and whether the pool had run out (then it starts over). */
function nextToken(credential: Credential, url: string): { token: string; repeated: boolean } {
  if ('token' in credential) return { token: credential.token, repeated: false };
  const tokens = pools.get(credential.pool);
  if (!tokens) throw new Error(`no token pool ${credential.pool}`);
  const key = `${credential.pool} ${url} ${credential.badSignature ? 'bad' : 'good'}`;
  const at = cursors.get(key) ?? 0;
  cursors.set(key, at + 1);
  const token = tokens[at % tokens.length];
  return { token: credential.badSignature ? `${token.slice(0, -6)}AAAAAA` : token, repeated: at >= tokens.length };
}

/** The upgrade request around its credential: built for every attempt, whichever the credential, so the client's work is the same. */
function upgradeRequest(url: string): { port: number; request: (token: string) => Buffer } {
  const { port, pathname, host } = new URL(url);
  const head = [
    `GET ${pathname} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  ];
  const prefix = head.join('\r\n') + '\r\nAuthorization: Bearer ';
  return { port: Number(port), request: (token) => Buffer.from(`${prefix}${token}\r\n\r\n`, 'latin1') };
}

async function handshakes({ url, credential, durationMs, concurrency }: Extract<Command, { type: 'handshakes' }>) {
  const { port, request } = upgradeRequest(url);
  const statuses: Record<number, number> = {};
  let repeated = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const next = nextToken(credential, url);
        if (next.repeated) repeated++;
        const status = await attempt(port, request(next.token));
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = Object.values(statuses).reduce((sum, n) => sum + n, 0);
  return { perSecond: total / seconds, statuses, repeated };
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
