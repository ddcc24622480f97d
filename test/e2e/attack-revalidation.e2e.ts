import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BadGatewayException, GatewayTimeoutException, InternalServerErrorException } from '@nestjs/common';
import { createClient } from 'redis';
import { RedisConnectionBus, WsConnections, WsRefusal, type WsAuthOptions, type WsJwtClaims } from '../../lib/index.js';
import { closedWithin, settledWithin, within } from '../support/close-deadline.js';
import { appModule } from '../support/fixtures.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { RedisServer } from '../support/redis-server.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

/**
 * Attacks on identities that stay current: re-checks raced by refreshes and handshakes, storms
 * of re-checks, odd subjects, a sweep under churn, a writer on the connection bus. Tests marked
 */

interface StoredUser {
  name: string;
  roles: unknown;
  fails?: unknown;
}

/** validate() reads this store on every check; a held subject's next call waits for the test. */
class UserStore {
  readonly users = new Map<string, StoredUser>();
  readonly calls: string[] = [];
  private readonly held = new Map<string, Promise<unknown>>();

  validate = (claims: WsJwtClaims): unknown => {
    const subject = claims.sub as string;
    this.calls.push(subject);
    const held = this.held.get(subject);
    if (held) {
      this.held.delete(subject);
      return held;
    }
    const user = this.users.get(subject);
    if (user?.fails) throw user.fails;
    return user ? { ...user } : null;
  };

  /** The next validate() of `subject` answers only when the returned function is called. */
  holdNext(subject: string): (answer: unknown) => void {
    let release!: (answer: unknown) => void;
    this.held.set(subject, new Promise((resolve) => (release = resolve)));
    return release;
  }

  callsOf(subject: string): number {
    return this.calls.filter((call) => call === subject).length;
  }
}

function assertNoCredential(app: TestApp, socket: SocketWitness, token: string) {
  assert.ok(!socket.seen().includes(token), 'the client must not get its token back');
  assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
}

const Chat = makeRecordingGateway('AttackRevalChat', { path: '/chat' });

describe('attack: WsConnections.revalidate', { timeout: 60_000 }, () => {
  const store = new UserStore();
  let app: TestApp;
  let connections: WsConnections;
  const sockets: SocketWitness[] = [];

  async function connect(subject: string, roles: unknown = ['admin']): Promise<{ socket: SocketWitness; token: string }> {
    store.users.set(subject, { name: subject, roles });
    const token = signToken({ sub: subject, username: subject, roles: ['admin'] });
    const socket = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    sockets.push(socket);
    return { socket, token };
  }

  const rolesOf = async (socket: SocketWitness) => (await socket.request('whoami')).data.roles as string[];

  before(async () => {
    app = await startTestApp(
      appModule([Chat], { jwt: { secret: TEST_SECRET }, validate: store.validate, rolesOf: (user: StoredUser) => user.roles as string[] }),
    );
    connections = app.app.get(WsConnections);
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await app.close();
  });

  it('refuses subjects that are not non-empty strings, and finds nothing under prototype keys', async () => {
    for (const subject of ['', undefined, null, 42, ['a'], { toString: () => 'a' }]) {
      await assert.rejects(connections.revalidate(subject as string), TypeError, JSON.stringify(subject));
    }
    for (const subject of ['__proto__', 'constructor', 'hasOwnProperty', 'nobody-at-all']) assert.equal(await connections.revalidate(subject), 0, subject);
  });

  it('coalesces a storm of 1000 re-checks of one subject into two validate() calls per connection', async () => {
    const [{ socket: first }, { socket: second }] = [await connect('storm'), await connect('storm')];
    const calls = store.callsOf('storm');
    const counts = await within(Promise.all(Array.from({ length: 1000 }, () => connections.revalidate('storm'))), 10_000, 'the storm');
    assert.ok(
      counts.every((count) => count === 2),
      'each call counts the two connections',
    );
    assert.equal(store.callsOf('storm') - calls, 4, 'validate() ran at most twice per connection');
    assert.equal(first.socket.readyState, first.socket.OPEN);
    assert.equal(second.socket.readyState, second.socket.OPEN);
  });

  it('drops a forbidden verdict that a refresh overtook', async () => {
    const { socket, token } = await connect('stale-forbidden');
    const answer = store.holdNext('stale-forbidden');
    const pending = connections.revalidate('stale-forbidden');
    const fresh = signToken({ sub: 'stale-forbidden', username: 'x' }, { expiresIn: 600 });
    await socket.authenticate(fresh);
    answer(Promise.reject(new WsRefusal('forbidden')));
    assert.equal(await within(pending, 3000, 'revalidate'), 1);
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
    assert.deepEqual(await rolesOf(socket), ['admin']);
    assertNoCredential(app, socket, token);
    assertNoCredential(app, socket, fresh);
  });

  it('closes with 1011 when rolesOf returns something other than an array of strings, logging no credential', async () => {
    for (const [i, bad] of [undefined, 'admin', [1], { 0: 'admin', length: 1 }].entries()) {
      const subject = `roles-broken-${i}`;
      const { socket, token } = await connect(subject);
      store.users.set(subject, { name: subject, roles: bad });
      await connections.revalidate(subject);
      assert.equal((await closedWithin(socket)).code, 1011, JSON.stringify(bad));
      assertNoCredential(app, socket, token);
    }
  });

  it('finding 2: a refresh whose validate() read the store before a demotion undoes the re-check made after it', async () => {
    const { socket } = await connect('refresh-race');
    const staleRead = store.holdNext('refresh-race');
    const calls = store.callsOf('refresh-race');
    // The client refreshes; its validate() reads the store (admin) and is slow to answer.
    socket.send('authenticate', { token: signToken({ sub: 'refresh-race', username: 'x' }, { expiresIn: 600 }) });
    await eventually(() => store.callsOf('refresh-race') > calls, 2000, 'the refresh reached validate()');
    // Meanwhile the app demotes and re-checks; the re-check reads the new roles at once.
    store.users.set('refresh-race', { name: 'refresh-race', roles: ['user'] });
    assert.equal(await connections.revalidate('refresh-race'), 1);
    assert.deepEqual(await rolesOf(socket), ['user']);
    staleRead({ name: 'refresh-race', roles: ['admin'] });
    await socket.next('authenticated');
    assert.deepEqual(await rolesOf(socket), ['user'], 'the demotion was undone by a refresh that started before it');
  });

  it('finding 3: a handshake whose validate() read the store before a demotion opens with the old roles after revalidate() resolved', async () => {
    store.users.set('handshake-race', { name: 'handshake-race', roles: ['admin'] });
    const staleRead = store.holdNext('handshake-race');
    const calls = store.callsOf('handshake-race');
    const opening = openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub: 'handshake-race', username: 'x' })}` } });
    await eventually(() => store.callsOf('handshake-race') > calls, 2000, 'the handshake reached validate()');
    store.users.set('handshake-race', { name: 'handshake-race', roles: ['user'] });
    assert.equal(await connections.revalidate('handshake-race'), 0, 'nothing open yet');
    staleRead({ name: 'handshake-race', roles: ['admin'] });
    const socket = await opening;
    sockets.push(socket);
    await sleep(50);
    assert.deepEqual(await rolesOf(socket), ['user'], 'a connection opened after revalidate() resolved still has the roles it removed');
  });

  it('finding 4: keeps the connection when validate() fails with a 5xx HttpException (no verdict about the user)', async () => {
    for (const [i, error] of [new InternalServerErrorException(), new BadGatewayException(), new GatewayTimeoutException()].entries()) {
      const subject = `outage-${i}`;
      const { socket } = await connect(subject);
      store.users.set(subject, { name: subject, roles: ['admin'], fails: error });
      await connections.revalidate(subject);
      const outcome = await settledWithin(socket.closed, 300);
      assert.equal(outcome, 'timeout', `${error.constructor.name} closed the connection: ${JSON.stringify(outcome)}`);
    }
  });
});

describe('attack: the periodic sweep under churn', { timeout: 60_000 }, () => {
  const INTERVAL_MS = 1000;
  const store = new UserStore();
  let app: TestApp;
  const sockets: SocketWitness[] = [];

  before(async () => {
    app = await startTestApp(
      appModule([Chat], {
        jwt: { secret: TEST_SECRET },
        validate: store.validate,
        rolesOf: (user: StoredUser) => user.roles as string[],
        revalidateIntervalMs: INTERVAL_MS,
      }),
    );
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await app.close();
  });

  async function open(subject: string): Promise<SocketWitness> {
    store.users.set(subject, { name: subject, roles: ['user'] });
    return openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub: subject })}` } });
  }

  it('goes on while connections close under its cursor, and re-checks the ones that stay', async () => {
    const stay = await Promise.all(['stay-0', 'stay-1', 'stay-2'].map(open));
    sockets.push(...stay);
    const calls = store.calls.length;
    // Connections of one subject close and reopen: the cursor's current set empties and returns.
    for (let i = 0; i < 40; i++) {
      const churned = await open('flapping');
      await churned.close();
    }
    await eventually(() => ['stay-0', 'stay-1', 'stay-2'].every((subject) => store.calls.slice(calls).includes(subject)), 5000, 'every stayer re-checked');
    assert.ok(stay.every((socket) => socket.socket.readyState === socket.socket.OPEN));
    assert.ok(!app.logs.lines.some((line) => line.startsWith('error')), app.logs.text());
  });

  it('finding 5: re-checks a long-lived connection every round while new subjects keep connecting', async () => {
    const veteran = await open('veteran');
    sockets.push(veteran);
    await eventually(() => store.callsOf('veteran') >= 2, 5000, 'the veteran re-checked by the sweep');
    const before = store.callsOf('veteran');
    const live: SocketWitness[] = [];
    // About four rounds of churn: each arrival has a subject of its own, appended after the cursor.
    for (let i = 0; i < 200; i++) {
      live.push(await open(`arrival-${i}`));
      if (live.length > 6) await live.shift()!.close();
      await sleep(15);
    }
    await Promise.all(live.map((socket) => socket.close()));
    assert.ok(store.callsOf('veteran') - before >= 2, `the veteran was re-checked ${store.callsOf('veteran') - before} times over about four rounds`);
  });
});

const binary = RedisServer.find();
const CHANNEL = 'attack-revalidation';

describe('attack: a writer on the connection bus', { skip: binary ? false : 'redis-server not installed', timeout: 60_000 }, () => {
  const store = new UserStore();
  let redis: RedisServer;
  let app: TestApp;
  const sockets: SocketWitness[] = [];

  const options = (url: string): WsAuthOptions => ({
    jwt: { secret: TEST_SECRET },
    validate: store.validate,
    rolesOf: (user: StoredUser) => user.roles as string[],
    connectionBus: new RedisConnectionBus({ url, channel: CHANNEL }),
  });

  before(async () => {
    redis = await RedisServer.start(binary!);
    app = await startTestApp(appModule([Chat], options(redis.url)));
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await app?.close();
    await redis?.stop();
  });

  it('drops re-check commands of other shapes, bounds a storm of valid ones, and keeps the socket', async () => {
    store.users.set('bus-user', { name: 'bus-user', roles: ['admin'] });
    const socket = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub: 'bus-user' })}` } });
    sockets.push(socket);
    const writer = createClient({ url: redis.url });
    await writer.connect();
    try {
      const calls = store.callsOf('bus-user');
      for (const message of [
        { revalidate: 42, origin: 'w' },
        { revalidate: ['bus-user'], origin: 'w' },
        { revalidate: { toString: 'bus-user' }, origin: 'w' },
        { revalidate: 'bus-user' },
        { revalidate: 'bus-user', origin: '' },
        { revalidate: 'bus-user', origin: 7 },
        { revalidate: 'bus-user', origin: 'w'.repeat(65) },
        { revalidate: 'bus-user', origin: 'w', subject: null },
        { revalidate: 'bus-user', origin: 'w', subject: 42 },
        { revalidate: '', origin: 'w' },
      ]) {
        await writer.publish(CHANNEL, JSON.stringify(message));
      }
      await writer.publish(CHANNEL, '{"revalidate":"bus-user","origin":"w"');
      // The control: a well-formed command is heard after the malformed ones.
      await writer.publish(CHANNEL, JSON.stringify({ revalidate: 'bus-user', origin: 'w' }));
      await eventually(() => store.callsOf('bus-user') > calls, 3000, 'the well-formed command heard');
      assert.equal(store.callsOf('bus-user') - calls, 1, 'only the well-formed command ran validate()');
      for (let i = 0; i < 1000; i++) void writer.publish(CHANNEL, JSON.stringify({ revalidate: 'bus-user', origin: 'w' }));
      await writer.ping();
      await eventually(async () => (await socket.request('whoami')).data.subject === 'bus-user', 3000, 'the socket answering');
      assert.ok(store.callsOf('bus-user') - calls <= 1001, `a storm of 1000 commands ran validate() ${store.callsOf('bus-user') - calls} times`);
      assert.equal(socket.socket.readyState, socket.socket.OPEN);
      assert.ok(!app.logs.lines.some((line) => line.startsWith('error')), app.logs.text());
    } finally {
      await writer.quit();
    }
  });
});
