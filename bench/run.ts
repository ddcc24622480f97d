import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { BenchProcess } from './processes.js';
import { handshakeChart } from './chart.js';
import { fixed, median, ratio, whole } from './stats.js';

/**
 * `npm run bench`: every comparison runs its servers side by side in this run, each in a
 * process of its own, under the same load from one client process, in alternating rounds.
 * Only ratios between figures of the same run are meaningful on a shared machine.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const IDLE_CONNECTIONS = Number(process.env.BENCH_IDLE ?? 10_000);
const BENCH_SECRET = 'benchmark-secret-0123456789-0123456789-0123';
// BENCH_ONLY=handshakes (with heap), roundtrips or tickets runs one part; unset runs them all.
const ONLY = process.env.BENCH_ONLY;
const runs = (part: 'handshakes' | 'roundtrips' | 'tickets') => ONLY === undefined || ONLY === part;

const token = jwt.sign({ sub: '1', username: 'bench', roles: ['user'] }, BENCH_SECRET, { expiresIn: 3600 });
const badToken = `${token.slice(0, -6)}AAAAAA`;
const withToken = { Authorization: `Bearer ${token}` };
const withBadToken = { Authorization: `Bearer ${badToken}` };

interface Server {
  name: string;
  process: BenchProcess;
  url: string;
}

async function startServer(name: string, script: string, env: Record<string, string> = {}): Promise<Server> {
  const { process, ready } = await BenchProcess.start(script, env);
  return { name, process, url: `ws://127.0.0.1:${ready.port}/bench` };
}

/**
 * Runs `measure` on every subject, ROUNDS times, rotating who goes first, after one round
 * that is thrown away: it only warms up the JIT of every process involved.
 */
async function alternate<T extends { name: string }>(subjects: T[], measure: (subject: T) => Promise<number>) {
  for (const subject of subjects) await measure(subject);
  const samples = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]);
    for (const subject of order) samples.get(subject.name)!.push(await measure(subject));
  }
  return new Map([...samples].map(([name, values]) => [name, { median: median(values), samples: values }]));
}

async function main() {
  const { process: load } = await BenchProcess.start('./load/load-worker.js');
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    rounds: ROUNDS,
    secondsPerRound: SECONDS,
  };
  const lines: string[] = [];
  const say = (line = '') => {
    lines.push(line);
    console.log(line);
  };

  if (runs('handshakes')) {
    // 1. Handshakes per second.
    const bare = await startServer('bare ws', './servers/bare-ws.server.js');
    const plain = await startServer('Nest WsAdapter', './servers/nest.server.js', { BENCH_SERVER: 'plain' });
    const custom = await startServer('WsAuthAdapter (no-crypto authenticate)', './servers/nest.server.js', { BENCH_SERVER: 'auth-custom' });
    const auth = await startServer('WsAuthAdapter (JWT)', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const handshake = (headers: Record<string, string>) => async (server: Server) =>
      (await load.request({ type: 'handshakes', url: server.url, headers, durationMs: SECONDS * 1000, concurrency: 16 })).perSecond;
    const accepted = await alternate([bare, plain, custom, auth], handshake(withToken));
    const refused = await alternate(
      [{ ...auth, name: 'accepted' }, { ...auth, name: 'refused' }],
      (subject) => handshake(subject.name === 'refused' ? withBadToken : withToken)(subject),
    );
    const hs = (name: string) => accepted.get(name)!.median;
    results.handshakes = {
      perSecond: Object.fromEntries([...accepted].map(([name, value]) => [name, value])),
      authVsBareWs: ratio(hs(auth.name), hs(bare.name)),
      authVsPlainNest: ratio(hs(auth.name), hs(plain.name)),
      customVsBareWs: ratio(hs(custom.name), hs(bare.name)),
      customVsPlainNest: ratio(hs(custom.name), hs(plain.name)),
      refusedVsAccepted: ratio(refused.get('refused')!.median, refused.get('accepted')!.median),
      refusedPerSecond: refused.get('refused')!.median,
      acceptedPerSecond: refused.get('accepted')!.median,
    };
    say('## Handshakes per second (median of rounds)');
    for (const [name, value] of accepted) say(`- ${name}: ${whole(value.median)}`);
    say(`- authenticated / bare ws: ${fixed(hs(auth.name) / hs(bare.name))}x (target >= 0.85)`);
    say(`- authenticated / plain Nest: ${fixed(hs(auth.name) / hs(plain.name))}x`);
    say(`- no-crypto authenticate / bare ws: ${fixed(hs(custom.name) / hs(bare.name))}x; / plain Nest: ${fixed(hs(custom.name) / hs(plain.name))}x`);
    say(`- refused (bad signature) / accepted on the same server: ${fixed((results.handshakes as any).refusedVsAccepted)}x (target >= 1)`);
    writeFileSync(fileURLToPath(new URL('../../bench/results/handshakes.svg', import.meta.url)), handshakeChart(accepted, refused));

    // 3. Heap per idle connection (before round trips: the same servers are still fresh).
    say();
    say(`## Heap per idle connection (${IDLE_CONNECTIONS.toLocaleString('en-US')} connections)`);
    const heap = async (server: Server) => (await server.process.request({ type: 'heap' })) as { heapUsed: number; connections: number };
    const perConnection: Record<string, number> = {};
    const churn: Record<string, number[]> = {};
    for (const [server, headers] of [[plain, {}], [auth, withToken]] as const) {
      const before = await heap(server);
      await load.request({ type: 'openIdle', url: server.url, headers, count: IDLE_CONNECTIONS, concurrency: 200 });
      const during = await heap(server);
      if (during.connections !== IDLE_CONNECTIONS) throw new Error(`${server.name}: ${during.connections} open, expected ${IDLE_CONNECTIONS}`);
      perConnection[server.name] = (during.heapUsed - before.heapUsed) / IDLE_CONNECTIONS;
      await load.request({ type: 'closeIdle' });
      churn[server.name] = [];
      for (let round = 0; round < 5; round++) {
        await load.request({ type: 'openIdle', url: server.url, headers, count: IDLE_CONNECTIONS, concurrency: 200 });
        await load.request({ type: 'closeIdle' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        churn[server.name].push((await heap(server)).heapUsed);
      }
      say(`- ${server.name}: ${whole(perConnection[server.name])} bytes per connection; heap after each of 5 churn rounds: ${churn[server.name].map((b) => `${fixed(b / 1e6, 1)} MB`).join(', ')}`);
    }
    const extra = perConnection[auth.name] - perConnection[plain.name];
    say(`- extra heap per authenticated connection: ${whole(extra)} bytes (target < 2048)`);
    results.heap = { perConnection, extraPerAuthenticatedConnection: extra, churn };

    await Promise.all([bare, plain, custom, auth].map((server) => server.process.stop()));

  }

  if (runs('roundtrips')) {
    // 2. Message round trips per second through guards.
    say();
    say('## Message round trips per second (median of rounds)');
    const unguarded = await startServer('unguarded handler', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_GUARDS: 'off' });
    const guarded = await startServer('WsAuthGuard + WsRolesGuard + @WsUser', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_GUARDS: 'on' });
    const trips = await alternate([unguarded, guarded], async (server) =>
      (await load.request({ type: 'roundtrips', url: server.url, headers: withToken, durationMs: SECONDS * 1000, sockets: 16, inflight: 4 })).perSecond,
    );
    for (const [name, value] of trips) say(`- ${name}: ${whole(value.median)}`);
    const guardedVsUnguarded = ratio(trips.get(guarded.name)!.median, trips.get(unguarded.name)!.median);
    say(`- guarded / unguarded: ${fixed(guardedVsUnguarded)}x (target >= 0.95)`);
    results.roundTrips = { perSecond: Object.fromEntries(trips), guardedVsUnguarded };
    await Promise.all([unguarded, guarded].map((server) => server.process.stop()));

  }

  if (runs('tickets')) {
    // 4. Tickets.
    say();
    say('## Tickets: issue + redeem pairs per second');
    const { process: tickets } = await BenchProcess.start('./tickets.bench.js');
    const ticketResults = await tickets.request<{ type: string; lines: string[]; results: unknown }>({ type: 'run', rounds: ROUNDS, seconds: SECONDS });
    for (const line of ticketResults.lines) say(line);
    results.tickets = ticketResults.results;
    await tickets.stop();

  }

  await load.stop();
  writeFileSync(fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url)), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(fileURLToPath(new URL('../../bench/results/latest.md', import.meta.url)), lines.join('\n') + '\n');
}

await main();
