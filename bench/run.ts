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
// BENCH_ONLY=handshakes (with heap), roundtrips, revocations or tickets runs one part; unset runs them all.
const ONLY = process.env.BENCH_ONLY;
const runs = (part: 'handshakes' | 'roundtrips' | 'revocations' | 'tickets') => ONLY === undefined || ONLY === part;

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

interface Sample {
  perSecond: number;
  /** The server process's CPU time per operation: steadier than a rate on a shared machine. */
  cpuUsPerOp: number;
}

interface Measured {
  median: number;
  samples: number[];
  cpuUsPerOp: number;
}

/** Runs one load against `server` and reads the server's CPU time around it. */
async function sampled(server: Server, load: () => Promise<{ perSecond: number }>): Promise<Sample> {
  const cpu = async () => ((await server.process.request({ type: 'cpu' })) as { us: number }).us;
  const before = await cpu();
  const { perSecond } = await load();
  const used = (await cpu()) - before;
  return { perSecond, cpuUsPerOp: used / (perSecond * SECONDS) };
}

/**
 * Runs `measure` on every subject, ROUNDS times, rotating who goes first, after one round
 * that is thrown away: it only warms up the JIT of every process involved.
 */
async function alternate<T extends { name: string }>(subjects: T[], measure: (subject: T) => Promise<Sample>): Promise<Map<string, Measured>> {
  for (const subject of subjects) await measure(subject);
  const samples = new Map<string, Sample[]>(subjects.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]);
    for (const subject of order) samples.get(subject.name)!.push(await measure(subject));
  }
  return new Map(
    [...samples].map(([name, values]) => [
      name,
      { median: median(values.map((v) => v.perSecond)), samples: values.map((v) => v.perSecond), cpuUsPerOp: median(values.map((v) => v.cpuUsPerOp)) },
    ]),
  );
}

/**
 * `a` against `b` as the median of per-round ratios: the two were measured moments apart in
 * each round, so a neighbour's burst on a shared machine weighs on both sides of one ratio.
 */
function paired(results: Map<string, Measured>, a: string, b: string): number {
  const x = results.get(a)!.samples;
  const y = results.get(b)!.samples;
  return median(x.map((value, i) => ratio(value, y[i])));
}

/** The same comparison in server CPU per operation, as a throughput ratio (b's cost / a's). */
function cpuRatio(results: Map<string, Measured>, a: string, b: string): number {
  return ratio(results.get(b)!.cpuUsPerOp, results.get(a)!.cpuUsPerOp);
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
    const handshake = (headers: Record<string, string>) => (server: Server) =>
      sampled(server, () => load.request({ type: 'handshakes', url: server.url, headers, durationMs: SECONDS * 1000, concurrency: 16 }));
    const accepted = await alternate([bare, plain, custom, auth], handshake(withToken));
    const refused = await alternate(
      [
        { ...auth, name: 'accepted' },
        { ...auth, name: 'refused' },
      ],
      (subject) => handshake(subject.name === 'refused' ? withBadToken : withToken)(subject),
    );
    const vs = (a: Server, b: Server) => ({ perSecond: paired(accepted, a.name, b.name), cpu: cpuRatio(accepted, a.name, b.name) });
    results.handshakes = {
      perSecond: Object.fromEntries(accepted),
      plainNestVsBareWs: vs(plain, bare),
      authVsBareWs: vs(auth, bare),
      authVsPlainNest: vs(auth, plain),
      customVsBareWs: vs(custom, bare),
      customVsPlainNest: vs(custom, plain),
      refusedVsAccepted: { perSecond: paired(refused, 'refused', 'accepted'), cpu: cpuRatio(refused, 'refused', 'accepted') },
      refused: refused.get('refused'),
      accepted: refused.get('accepted'),
    };
    const line = (label: string, { perSecond, cpu }: { perSecond: number; cpu: number }, target = '') =>
      say(`- ${label}: ${fixed(perSecond)}x per second, ${fixed(cpu)}x by server CPU per handshake${target}`);
    say('## Handshakes per second (median of rounds; server CPU per handshake)');
    for (const [name, value] of accepted) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    line('plain Nest / bare ws (no authentication at all)', vs(plain, bare));
    line('authenticated / bare ws', vs(auth, bare), ' (target >= 0.85)');
    line('authenticated / plain Nest', vs(auth, plain));
    line('no-crypto authenticate / bare ws', vs(custom, bare));
    line('no-crypto authenticate / plain Nest', vs(custom, plain));
    line('refused (bad signature) / accepted on the same server', (results.handshakes as any).refusedVsAccepted, ' (target >= 1)');
    writeFileSync(fileURLToPath(new URL('../../bench/results/handshakes.svg', import.meta.url)), handshakeChart(accepted, refused));

    // 3. Heap per idle connection (before round trips: the same servers are still fresh).
    say();
    say(`## Heap per idle connection (${IDLE_CONNECTIONS.toLocaleString('en-US')} connections)`);
    const heap = async (server: Server) => (await server.process.request({ type: 'heap' })) as { heapUsed: number; connections: number };
    const perConnection: Record<string, number> = {};
    const churn: Record<string, number[]> = {};
    for (const [server, headers] of [
      [plain, {}],
      [auth, withToken],
    ] as const) {
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
      say(
        `- ${server.name}: ${whole(perConnection[server.name])} bytes per connection; heap after each of 5 churn rounds: ${churn[server.name].map((b) => `${fixed(b / 1e6, 1)} MB`).join(', ')}`,
      );
    }
    const extra = perConnection[auth.name] - perConnection[plain.name];
    say(`- extra heap per authenticated connection: ${whole(extra)} bytes (target < 2048)`);
    results.heap = { perConnection, extraPerAuthenticatedConnection: extra, churn };

    await Promise.all([bare, plain, custom, auth].map((server) => server.process.stop()));
  }

  if (runs('roundtrips')) {
    // 2. Message round trips per second through guards.
    say();
    say('## Message round trips per second (median of rounds; server CPU per round trip)');
    const unguarded = await startServer('unguarded handler', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_GUARDS: 'off' });
    const guarded = await startServer('WsAuthGuard + WsRolesGuard + @WsUser', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_GUARDS: 'on' });
    const trips = await alternate([unguarded, guarded], (server) =>
      sampled(server, () => load.request({ type: 'roundtrips', url: server.url, headers: withToken, durationMs: SECONDS * 1000, sockets: 16, inflight: 4 })),
    );
    for (const [name, value] of trips) say(`- ${name}: ${whole(value.median)}/s, ${fixed(value.cpuUsPerOp, 1)} us`);
    const guardedVsUnguarded = { perSecond: paired(trips, guarded.name, unguarded.name), cpu: cpuRatio(trips, guarded.name, unguarded.name) };
    say(
      `- guarded / unguarded: ${fixed(guardedVsUnguarded.perSecond)}x per second, ${fixed(guardedVsUnguarded.cpu)}x by server CPU per round trip (target >= 0.95)`,
    );
    results.roundTrips = { perSecond: Object.fromEntries(trips), guardedVsUnguarded };
    await Promise.all([unguarded, guarded].map((server) => server.process.stop()));
  }

  if (runs('revocations')) {
    // 4. The upgrade path's revocation lookup with 100,000 live revocations against none.
    say();
    say('## Handshakes with 100,000 revocations loaded (median of rounds; server CPU per handshake)');
    const none = await startServer('no revocations', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const many = await startServer('100,000 revocations', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_REVOCATIONS: '100000' });
    const measured = await alternate([none, many], (server) =>
      sampled(server, () => load.request({ type: 'handshakes', url: server.url, headers: withToken, durationMs: SECONDS * 1000, concurrency: 16 })),
    );
    const held = (await many.process.request({ type: 'info' })) as { revocations: number; heapBytes: number };
    const manyVsNone = { perSecond: paired(measured, many.name, none.name), cpu: cpuRatio(measured, many.name, none.name) };
    for (const [name, value] of measured) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    say(`- 100,000 revocations / none: ${fixed(manyVsNone.perSecond)}x per second, ${fixed(manyVsNone.cpu)}x by server CPU per handshake (target: flat)`);
    say(`- heap held by ${whole(held.revocations)} revocations: ${fixed(held.heapBytes / 1e6, 1)} MB (${whole(held.heapBytes / held.revocations)} B each)`);
    results.revocations = { perSecond: Object.fromEntries(measured), manyVsNone, held };
    await Promise.all([none, many].map((server) => server.process.stop()));
  }

  if (runs('tickets')) {
    // 5. Tickets.
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
