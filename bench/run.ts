import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import type { Credential } from './load/load-worker.js';
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
// BENCH_ONLY=handshakes (with heap), roundtrips, jwks, revocations, metrics or tickets runs one
// part, or several separated by commas; unset runs them all.
const ONLY = process.env.BENCH_ONLY?.split(',').map((part) => part.trim());
const runs = (part: 'handshakes' | 'roundtrips' | 'jwks' | 'revocations' | 'metrics' | 'tickets') => ONLY === undefined || ONLY.includes(part);
// Tokens signed before the timed rounds, each used once per server process: more than the
// fastest server takes in all its rounds (~6,000/s x 2 s x 8 rounds, plus 60,000 idle
// connections), so no handshake of theirs finds its token in the verifier's cache. The
// handshakes report any token used twice on one server.
// BENCH_PROFILE=<folder>: a CPU profile of each subject's server over one extra round, for
// `node .build/bench/profile-summary.js <folder>`.
const PROFILE = process.env.BENCH_PROFILE;
const FRESH_TOKENS = Number(process.env.BENCH_TOKENS ?? 200_000);
const FRESH_RS256_TOKENS = Number(process.env.BENCH_RS256_TOKENS ?? 80_000);

const CLAIMS = { sub: '1', username: 'bench', roles: ['user'] };
// The token a client reconnects with: the one verified on its first handshake, so from its
// second on the verifier's cache answers. Its jti makes it as long as the fresh ones.
const token = jwt.sign({ ...CLAIMS, jti: 'hs-reused' }, BENCH_SECRET, { expiresIn: 3600 });
const withToken = { Authorization: `Bearer ${token}` };
const reused: Credential = { token };
const fresh: Credential = { pool: 'hs' };
const freshBadSignature: Credential = { pool: 'hs', badSignature: true };

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

/** Tokens used twice on one server, summed over a part: to be 0, or the cache may have answered. */
const repeatedTokens = new Map<string, number>();

/**
 * Handshakes against `server` with `credential`, which must all end with `status`: a figure
 * of refusals where acceptances were meant (a key that does not match, an expired pool) would
 * look like a fast server.
 */
function handshakes(load: BenchProcess, server: Server, credential: Credential, status: number): Promise<Sample> {
  return sampled(server, async () => {
    const result = await load.request<{ perSecond: number; statuses: Record<string, number>; repeated: number }>({
      type: 'handshakes',
      url: server.url,
      credential,
      durationMs: SECONDS * 1000,
      concurrency: 16,
    });
    const total = Object.values(result.statuses).reduce((sum, n) => sum + n, 0);
    // A handshake the loopback drops (0) now and then is noise; anything else, or many, is a fault.
    if ((result.statuses[status] ?? 0) < total * 0.99) throw new Error(`${server.name}: expected ${status}, got ${JSON.stringify(result.statuses)}`);
    repeatedTokens.set(server.name, (repeatedTokens.get(server.name) ?? 0) + result.repeated);
    return result;
  });
}

/**
 * Runs `measure` on every subject, ROUNDS times, rotating who goes first, after one round
 * that is thrown away: it only warms up the JIT of every process involved. With BENCH_PROFILE
 * set, one more round follows, not counted, each subject's server under a CPU profiler.
 */
async function alternate<T extends { name: string; process: BenchProcess }>(
  subjects: T[],
  measure: (subject: T) => Promise<Sample>,
): Promise<Map<string, Measured>> {
  for (const subject of subjects) await measure(subject);
  const samples = new Map<string, Sample[]>(subjects.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]);
    for (const subject of order) samples.get(subject.name)!.push(await measure(subject));
  }
  if (PROFILE !== undefined) {
    mkdirSync(PROFILE, { recursive: true });
    for (const subject of subjects) {
      await subject.process.request({ type: 'profileStart' });
      await measure(subject);
      await subject.process.request({ type: 'profileStop', path: join(PROFILE, `${subject.name.replace(/[^\w.-]+/g, '_')}.cpuprofile`) });
    }
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

interface Target {
  figure: string;
  /** As a throughput ratio, except the JWKS figure (a CPU cost ratio) and the heap (bytes per connection). */
  value: number;
  goal: string;
  met: boolean;
}

async function main() {
  const { process: load } = await BenchProcess.start('./load/load-worker.js');
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    versions: versions(),
    rounds: ROUNDS,
    secondsPerRound: SECONDS,
  };
  const lines: string[] = [];
  const say = (line = '') => {
    lines.push(line);
    console.log(line);
  };

  const targets: Target[] = [];
  const target = (figure: string, value: number, goal: string, met: boolean) => targets.push({ figure, value, goal, met });

  if (runs('handshakes')) {
    // 1. Handshakes per second. One alternation of every subject, so any two of them pair per
    // round: bare ws, plain Nest and the no-crypto authenticator ignore the token they are sent
    // (the same one each time). Every figure compared with a baseline has a server of its own:
    // the garbage a round leaves is collected in the next round on the same server, so a server
    // shared by two subjects charges each with part of the other's cost (a fresh token's round
    // measured up to ~17 us per handshake dearer on the server it shared with the refusals than
    // on one of its own). Refusals are compared with acceptances on one server of their own,
    // the pair of rounds sharing what they leave behind as the two figures it compares.
    const signed = await load.request({ type: 'signTokens', pool: 'hs', algorithm: 'HS256', key: BENCH_SECRET, claims: CLAIMS, count: FRESH_TOKENS });
    const bare = await startServer('bare ws', './servers/bare-ws.server.js');
    const plain = await startServer('Nest WsAdapter', './servers/nest.server.js', { BENCH_SERVER: 'plain' });
    const custom = await startServer('WsAuthAdapter (no-crypto authenticate)', './servers/nest.server.js', { BENCH_SERVER: 'auth-custom' });
    const auth = await startServer('WsAuthAdapter (JWT)', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const again = await startServer('WsAuthAdapter (JWT), the same token again', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const refusals = await startServer('WsAuthAdapter (JWT), refusals', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const subjects = [
      { ...bare, credential: reused, status: 101 },
      { ...plain, credential: reused, status: 101 },
      { ...custom, credential: reused, status: 101 },
      { ...auth, name: 'WsAuthAdapter (JWT), a fresh token each', credential: fresh, status: 101 },
      { ...again, credential: reused, status: 101 },
      { ...refusals, name: 'WsAuthAdapter (JWT), refused: bad signature', credential: freshBadSignature, status: 401 },
      { ...refusals, name: 'WsAuthAdapter (JWT), a fresh token each, beside the refusals', credential: fresh, status: 101 },
    ];
    const [, , , freshJwt, sameJwt, refusedJwt, freshBesideRefusals] = subjects;
    const measured = await alternate(subjects, (subject) => handshakes(load, subject, subject.credential, subject.status));
    const vs = (a: { name: string }, b: { name: string }) => ({ perSecond: paired(measured, a.name, b.name), cpu: cpuRatio(measured, a.name, b.name) });
    const comparisons = {
      plainNestVsBareWs: vs(plain, bare),
      customVsBareWs: vs(custom, bare),
      customVsPlainNest: vs(custom, plain),
      freshVsPlainNest: vs(freshJwt, plain),
      freshVsBareWs: vs(freshJwt, bare),
      sameTokenVsBareWs: vs(sameJwt, bare),
      sameTokenVsPlainNest: vs(sameJwt, plain),
      refusedVsFresh: vs(refusedJwt, freshBesideRefusals),
    };
    results.handshakes = { perSecond: Object.fromEntries(measured), ...comparisons, tokens: { ...signed, repeated: Object.fromEntries(repeatedTokens) } };
    const line = (label: string, { perSecond, cpu }: { perSecond: number; cpu: number }, goal = '') =>
      say(`- ${label}: ${fixed(perSecond)}x per second, ${fixed(cpu)}x by server CPU per handshake${goal}`);
    say('## Handshakes per second (median of rounds; server CPU per handshake)');
    for (const [name, value] of measured) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    line('plain Nest / bare ws (no authentication at all)', comparisons.plainNestVsBareWs);
    line('no-crypto authenticate / bare ws', comparisons.customVsBareWs);
    line('no-crypto authenticate / plain Nest', comparisons.customVsPlainNest);
    line('JWT, a fresh token each / plain Nest', comparisons.freshVsPlainNest, ' (target >= 1.0 by server CPU)');
    line('JWT, a fresh token each / bare ws', comparisons.freshVsBareWs);
    line('JWT, the same token again (reconnects) / bare ws', comparisons.sameTokenVsBareWs, ' (target >= 0.85 by server CPU)');
    line('JWT, the same token again / plain Nest', comparisons.sameTokenVsPlainNest);
    line('refused (bad signature) / accepted with a fresh token, same server', comparisons.refusedVsFresh, ' (target >= 1.0 by server CPU)');
    say(
      `- fresh tokens: ${whole(signed.count)} signed before the rounds (${fixed(signed.seconds, 1)} s); used twice on one server: ${whole(repeatedTokens.get(freshJwt.name) ?? 0)}, ${whole(repeatedTokens.get(freshBesideRefusals.name) ?? 0)}`,
    );
    target('handshakes, a fresh JWT each / plain Nest WsAdapter', comparisons.freshVsPlainNest.cpu, '>= 1.0x', comparisons.freshVsPlainNest.cpu >= 1);
    target('handshakes, the same JWT again (reconnects) / bare ws', comparisons.sameTokenVsBareWs.cpu, '>= 0.85x', comparisons.sameTokenVsBareWs.cpu >= 0.85);
    target('refused handshake (bad signature) / accepted with a fresh JWT', comparisons.refusedVsFresh.cpu, '>= 1.0x', comparisons.refusedVsFresh.cpu >= 1);
    if (PROFILE === undefined) writeFileSync(fileURLToPath(new URL('../../bench/results/handshakes.svg', import.meta.url)), handshakeChart(measured));

    // 3. Heap per idle connection (before round trips: the same servers are still fresh). The
    // JWT server's cache of verified tokens is full from the rounds above, so what it holds is
    // in both readings and not charged to the connections.
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
    say(`- extra heap per authenticated connection: ${whole(extra)} bytes (target < 0: below plain Nest)`);
    results.heap = { perConnection, extraPerAuthenticatedConnection: extra, churn };
    target(
      `heap per idle connection at ${IDLE_CONNECTIONS.toLocaleString('en-US')}, JWT / plain Nest`,
      ratio(perConnection[auth.name], perConnection[plain.name]),
      '< 1.0x (below plain Nest)',
      extra < 0,
    );

    await Promise.all([bare, plain, custom, auth, again, refusals].map((server) => server.process.stop()));
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
    target('round trips, guarded / unguarded', guardedVsUnguarded.cpu, '>= 0.95x', guardedVsUnguarded.cpu >= 0.95);
    await Promise.all([unguarded, guarded].map((server) => server.process.stop()));
  }

  if (runs('jwks')) {
    // 4. RS256 handshakes verified against a JWKS (fetched once at startup from a loopback HTTP
    // server here, then cached) against the same key given as a static publicKey. A fresh
    // token each on both sides, so neither answers from its cache of verified tokens.
    say();
    say('## RS256 handshakes: JWKS against a static publicKey (median of rounds; server CPU per handshake)');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = 'bench-rs256';
    const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
    let fetches = 0;
    const keyServer = createServer((request, response) => {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    const keyServerPort = (keyServer.address() as { port: number }).port;
    const claims = { BENCH_ISSUER: 'https://issuer.bench.invalid/', BENCH_AUDIENCE: 'bench' };
    const signed = await load.request({
      type: 'signTokens',
      pool: 'rs256',
      algorithm: 'RS256',
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      kid,
      claims: { ...CLAIMS, iss: claims.BENCH_ISSUER, aud: claims.BENCH_AUDIENCE },
      count: FRESH_RS256_TOKENS,
    });
    const staticKey = await startServer('RS256, static publicKey', './servers/nest.server.js', {
      BENCH_SERVER: 'auth-rs256',
      BENCH_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      ...claims,
    });
    const fromJwks = await startServer('RS256, JWKS', './servers/nest.server.js', {
      BENCH_SERVER: 'auth-jwks',
      BENCH_JWKS_URI: `http://127.0.0.1:${keyServerPort}/.well-known/jwks.json`,
      ...claims,
    });
    const rs256: Credential = { pool: 'rs256' };
    const measured = await alternate([staticKey, fromJwks], (server) => handshakes(load, server, rs256, 101));
    const jwksVsStatic = { perSecond: paired(measured, fromJwks.name, staticKey.name), cpu: cpuRatio(measured, fromJwks.name, staticKey.name) };
    const costRatio = ratio(measured.get(fromJwks.name)!.cpuUsPerOp, measured.get(staticKey.name)!.cpuUsPerOp);
    for (const [name, value] of measured) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    say(
      `- JWKS / static publicKey: ${fixed(jwksVsStatic.perSecond)}x per second, ${fixed(jwksVsStatic.cpu)}x by server CPU per handshake (costs ${fixed(costRatio)}x the CPU; target: within 1.3x)`,
    );
    say(
      `- fresh tokens: ${whole(signed.count)} signed before the rounds (${fixed(signed.seconds, 1)} s); used twice on one server: ${whole(repeatedTokens.get(staticKey.name) ?? 0)}, ${whole(repeatedTokens.get(fromJwks.name) ?? 0)}; JWKS fetches: ${fetches}`,
    );
    results.jwks = { perSecond: Object.fromEntries(measured), jwksVsStatic, cpuCostRatio: costRatio, fetches, tokens: signed };
    target('RS256 handshakes, JWKS / static publicKey (CPU cost, fresh JWTs)', costRatio, '<= 1.3x the cost', costRatio <= 1.3);
    await Promise.all([staticKey, fromJwks].map((server) => server.process.stop()));
    keyServer.close();
  }

  if (runs('revocations')) {
    // 5. The upgrade path's revocation lookup with 100,000 live revocations against none.
    say();
    say('## Handshakes with 100,000 revocations loaded (median of rounds; server CPU per handshake)');
    const none = await startServer('no revocations', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const many = await startServer('100,000 revocations', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_REVOCATIONS: '100000' });
    const measured = await alternate([none, many], (server) => handshakes(load, server, reused, 101));
    const held = (await many.process.request({ type: 'info' })) as { revocations: number; heapBytes: number };
    const manyVsNone = { perSecond: paired(measured, many.name, none.name), cpu: cpuRatio(measured, many.name, none.name) };
    for (const [name, value] of measured) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    say(`- 100,000 revocations / none: ${fixed(manyVsNone.perSecond)}x per second, ${fixed(manyVsNone.cpu)}x by server CPU per handshake (target: flat)`);
    say(`- heap held by ${whole(held.revocations)} revocations: ${fixed(held.heapBytes / 1e6, 1)} MB (${whole(held.heapBytes / held.revocations)} B each)`);
    results.revocations = { perSecond: Object.fromEntries(measured), manyVsNone, held };
    await Promise.all([none, many].map((server) => server.process.stop()));
  }

  if (runs('metrics')) {
    // 6. The same JWT handshakes with the OpenTelemetry SDK registered (the library's instruments
    // live, its reader collected once, after the rounds) against no SDK (the API's no-op meter).
    say();
    say('## Handshakes with OpenTelemetry metrics on and off (median of rounds; server CPU per handshake)');
    const off = await startServer('metrics off', './servers/nest.server.js', { BENCH_SERVER: 'auth' });
    const on = await startServer('metrics on', './servers/nest.server.js', { BENCH_SERVER: 'auth', BENCH_METRICS: 'on' });
    const measured = await alternate([off, on], (server) => handshakes(load, server, reused, 101));
    const { upgradeAttempts } = (await on.process.request({ type: 'info' })) as { upgradeAttempts: number };
    const onVsOff = { perSecond: paired(measured, on.name, off.name), cpu: cpuRatio(measured, on.name, off.name) };
    for (const [name, value] of measured) say(`- ${name}: ${whole(value.median)}/s, ${whole(value.cpuUsPerOp)} us`);
    say(`- on / off: ${fixed(onVsOff.perSecond)}x per second, ${fixed(onVsOff.cpu)}x by server CPU per handshake (target: flat)`);
    say(`- upgrade attempts the SDK counted, collected once at the end: ${whole(upgradeAttempts)}`);
    results.metrics = { perSecond: Object.fromEntries(measured), onVsOff, upgradeAttempts };
    await Promise.all([off, on].map((server) => server.process.stop()));
  }

  if (runs('tickets')) {
    // 7. Tickets.
    say();
    say('## Tickets: issue + redeem pairs per second');
    const { process: tickets } = await BenchProcess.start('./tickets.bench.js');
    const ticketResults = await tickets.request<{ type: string; lines: string[]; results: unknown }>({ type: 'run', rounds: ROUNDS, seconds: SECONDS });
    for (const line of ticketResults.lines) say(line);
    results.tickets = ticketResults.results;
    await tickets.stop();
  }

  if (targets.length) {
    say();
    say('## Targets (decided by server CPU per operation; heap by bytes per connection)');
    say('| figure | ratio | target | |');
    say('| --- | --- | --- | --- |');
    for (const { figure, value, goal, met } of targets) say(`| ${figure} | ${fixed(value)}x | ${goal} | ${met ? 'met' : '**missed**'} |`);
    results.targets = targets;
  }

  await load.stop();
  // A profiling run measures where the time goes, not how much: it leaves the results alone.
  if (PROFILE !== undefined) return;
  writeFileSync(fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url)), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(fileURLToPath(new URL('../../bench/results/latest.md', import.meta.url)), lines.join('\n') + '\n');
}

/** The installed versions of what the figures depend on, as the README's table names them. */
function versions(): Record<string, string> {
  const names = ['@nestjs/core', '@nestjs/websockets', '@nestjs/platform-ws', '@nestjs/jwt', 'ws', 'fast-jwt', 'jose', 'jsonwebtoken'];
  return Object.fromEntries(
    names.map((name) => [
      name,
      (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version,
    ]),
  );
}

await main();
