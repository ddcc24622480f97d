import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type WebSocket from 'ws';
import { RedisConnectionBus, WsConnections } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { closed, openOrFail } from '../support/ws-client.js';
import { settledWithin } from '../support/close-deadline.js';

const binary = RedisServer.find();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CHANNEL = 'ws-auth:disconnect';
const UNAVAILABLE = /Connection bus unavailable \(Redis\)/;
const REACHABLE = /Connection bus reachable again \(Redis\)/;

const Chat = makeGateway('BusOutageChat', 0, { path: '/chat' });

describe('RedisConnectionBus while Redis is down, and once it is back', { skip: binary ? false : 'redis-server not installed', timeout: 60_000 }, () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  const sockets: WebSocket[] = [];
  const tokens: string[] = [];

  function start(): Promise<TestApp> {
    return startTestApp(appModule([Chat], { jwt: { secret: TEST_SECRET }, connectionBus: new RedisConnectionBus({ url: redis.url }) }));
  }

  async function connect(instance: TestApp, subject: string): Promise<WebSocket> {
    const token = signToken({ sub: subject, username: subject });
    tokens.push(token);
    const socket = await openOrFail(instance.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    sockets.push(socket);
    return socket;
  }

  function linesMatching(pattern: RegExp, ...apps: TestApp[]): string[] {
    return apps.flatMap((app) => app.logs.lines).filter((line) => pattern.test(line));
  }

  before(async () => {
    // A port of Redis's own, then nothing on it: the apps start against a Redis that is down.
    redis = await RedisServer.start(binary!);
    await redis.stop();
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('starts within 3 s while Redis is down, and says so in one log line', async () => {
    let started = Date.now();
    a = await start();
    assert.ok(Date.now() - started < 3000, `A started in ${Date.now() - started} ms`);
    // Several reconnection attempts happen in this second; none may add a line.
    await sleep(1000);
    const lines = linesMatching(UNAVAILABLE, a);
    assert.equal(lines.length, 1, a.logs.text());
    assert.match(lines[0]!, /ECONNREFUSED/);
    assert.ok(!lines[0]!.includes('redis://') && !lines[0]!.includes(String(redis.port)), 'names the error only');

    started = Date.now();
    b = await start();
    assert.ok(Date.now() - started < 3000, `B started in ${Date.now() - started} ms`);
    await sleep(500);
    // Nest's logger is static: both apps' lines land in whichever capture was set last.
    assert.equal(linesMatching(UNAVAILABLE, a, b).length, 2, 'one line per instance');
  });

  it('disconnect() on an instance that never reached Redis closes local sockets and rejects within 3 s', async () => {
    const local = await connect(a, 'outage-carol');
    const closing = closed(local);
    const outcome = await settledWithin(a.app.get(WsConnections).disconnect('outage-carol'), 3000);
    assert.notEqual(outcome, 'timeout', 'disconnect() neither resolved nor rejected within 3 s');
    assert.ok(outcome !== 'timeout' && 'error' in outcome, 'disconnect() resolved although nothing was published');
    assert.equal((await closing).code, 4403);
  });

  it('delivers disconnects across instances once Redis is up on that port', async () => {
    await redis.resume();
    const onB = await connect(b, 'outage-alice');
    const closing = closed(onB);
    const connections = a.app.get(WsConnections);
    const resumed = Date.now();
    // Pub/sub keeps nothing: a command published before B's subscriber is back is lost, so retry.
    let outcome: Awaited<ReturnType<typeof settledWithin>> = 'timeout';
    while (outcome === 'timeout' && Date.now() - resumed < 10_000) {
      await settledWithin(connections.disconnect('outage-alice'), 2500);
      outcome = await settledWithin(closing, 300);
    }
    assert.ok(outcome !== 'timeout' && 'value' in outcome, 'B closed the socket within 10 s of Redis coming back');
    assert.equal((outcome.value as { code: number }).code, 4403);
    console.log(`after Redis came up: a disconnect from A reached B at +${Date.now() - resumed} ms`);

    const again = await connect(b, 'outage-alice');
    const closingAgain = closed(again);
    assert.equal(await connections.disconnect('outage-alice'), 0);
    const second = await settledWithin(closingAgain, 3000);
    assert.ok(second !== 'timeout' && 'value' in second, 'the next disconnect reaches B at the first attempt');
  });

  it('closes with the fixed text, whatever reason a message on the channel carries', async () => {
    const publisher = createClient({ url: redis.url });
    await publisher.connect();
    try {
      for (const reason of ['<script>alert(1)</script>', 'You are fired', 42, undefined]) {
        const victim = await connect(b, 'outage-bob');
        const bystander = await connect(b, 'outage-dave');
        const closing = closed(victim);
        // Malformed messages first: each is dropped without stopping delivery.
        for (const junk of ['not json', 'null', '[]', JSON.stringify({ reason: 'no subject' }), JSON.stringify({ subject: 7 })]) {
          await publisher.publish(CHANNEL, junk);
        }
        await publisher.publish(CHANNEL, JSON.stringify({ subject: 'outage-bob', reason }));
        const outcome = await settledWithin(closing, 3000);
        assert.ok(outcome !== 'timeout' && 'value' in outcome, `closed for reason ${String(reason)}`);
        assert.deepEqual(outcome.value, { code: 4403, reason: 'Revoked' });
        assert.equal(bystander.readyState, bystander.OPEN);
        bystander.close();
      }
    } finally {
      publisher.destroy();
    }
  });

  it('says once per instance that Redis is reachable again', async () => {
    // Each client retries on its own backoff (at most 2 s apart); A's subscriber may still be waiting.
    for (const deadline = Date.now() + 5000; linesMatching(REACHABLE, a, b).length < 2 && Date.now() < deadline;) await sleep(100);
    assert.equal(linesMatching(REACHABLE, a, b).length, 2, ['A:', a.logs.text(), 'B:', b.logs.text()].join('\n'));
  });

  it('with Redis stopped again, disconnect() rejects within 3 s and still closes the local sockets', async () => {
    const local = await connect(a, 'outage-erin');
    await redis.stop();
    await sleep(200);
    const closing = closed(local);
    const started = Date.now();
    const outcome = await settledWithin(a.app.get(WsConnections).disconnect('outage-erin'), 3000);
    assert.notEqual(outcome, 'timeout', 'disconnect() neither resolved nor rejected within 3 s');
    assert.ok(outcome !== 'timeout' && 'error' in outcome, 'disconnect() resolved although nothing was published');
    console.log(`disconnect() rejected after ${Date.now() - started} ms`);
    assert.equal((await closing).code, 4403);
    await sleep(1000);
    // One line for this outage per instance, on top of the two at startup.
    assert.equal(linesMatching(UNAVAILABLE, a, b).length, 4, ['A:', a.logs.text(), 'B:', b.logs.text()].join('\n'));
  });

  it('never logs a token', () => {
    const logs = a.logs.text() + b.logs.text();
    for (const token of tokens) assert.ok(!logs.includes(token));
  });
});

describe('RedisConnectionBus against a server that accepts but never answers', { timeout: 20_000 }, () => {
  const held: Socket[] = [];
  const silent = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  let bus: RedisConnectionBus;

  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    bus = new RedisConnectionBus({ url: `redis://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
  });
  after(async () => {
    bus.onModuleDestroy();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('lets startup go on within 3 s', async () => {
    const outcome = await settledWithin(
      bus.subscribe(() => undefined),
      3000,
    );
    assert.ok(outcome !== 'timeout' && 'value' in outcome, 'subscribe() settled (and resolved) within 3 s');
  });

  it('rejects a publish within 3 s', async () => {
    const outcome = await settledWithin(bus.publish({ subject: 'nobody', reason: 'revoked' }), 3000);
    assert.ok(outcome !== 'timeout' && 'error' in outcome, 'publish() rejected within 3 s');
    assert.match(String((outcome as { error: Error }).error.message), /not published \(TimeoutError\)/);
  });
});
