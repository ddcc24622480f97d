import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WsConnectionBus, WsConnections, type WsDisconnectCommand, type WsDisconnectListener } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { startSample, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { SESSION_TIMERS, TimerCensus } from '../support/timer-census.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'forbidden' };

/** Stands in for Redis: records what this instance publishes and lets a test play another instance. */
class RecordingBus extends WsConnectionBus {
  readonly published: WsDisconnectCommand[] = [];
  listener?: WsDisconnectListener;
  failing = false;

  async publish(command: WsDisconnectCommand): Promise<void> {
    if (this.failing) throw new Error('bus down');
    this.published.push(command);
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    this.listener = listener;
  }
}

function openApp(bus?: WsConnectionBus) {
  return startTestApp(
    appModule(
      [
        makeRecordingGateway(bus ? 'BusChat' : 'RevChat', { path: '/chat' }),
        makeRecordingGateway(bus ? 'BusLive' : 'RevLive', { path: '/live', wsAuth: { mode: 'in-band', authTimeoutMs: 2000 } }),
      ],
      { jwt: { secret: TEST_SECRET }, connectionBus: bus },
    ),
  );
}

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('revocation with WsConnections', { timeout: 30_000 }, () => {
  let app: TestApp;
  let connections: WsConnections;
  const tokens: string[] = [];
  before(async () => {
    app = await openApp();
    connections = app.app.get(WsConnections);
  });
  after(() => app.close());

  async function onChat(sub: string, claims: Record<string, unknown> = {}) {
    const token = signToken({ sub, username: sub, ...claims });
    tokens.push(token);
    return openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
  }
  async function onLive(sub: string) {
    const token = signToken({ sub, username: sub });
    tokens.push(token);
    const socket = await openWitnessed(app.url('/live'));
    await socket.authenticate(token);
    return socket;
  }
  async function closeAll(sockets: SocketWitness[]) {
    await Promise.all(sockets.map((socket) => socket.close()));
    await eventually(() => connections.count() === 0, 1000, 'every connection forgotten');
  }

  it('lists and counts authenticated connections by subject across gateways, never waiting ones', async () => {
    const aliceChat = await onChat('rev-alice');
    const aliceLive = await onLive('rev-alice');
    const bob = await onChat('rev-bob');
    const waiting = await openWitnessed(app.url('/live'));
    assert.equal(connections.count(), 3);
    assert.equal(connections.count('rev-alice'), 2);
    assert.equal(connections.count('rev-bob'), 1);
    assert.equal(connections.count('rev-nobody'), 0);
    const alice = connections.list('rev-alice');
    assert.equal(alice.length, 2);
    assert.notEqual(alice[0].client, alice[1].client);
    for (const { client, identity } of alice) {
      assert.equal(client.readyState, 1);
      assert.equal(identity.subject, 'rev-alice');
      assert.equal((identity.user as { username: string }).username, 'rev-alice');
    }
    assert.deepEqual(connections.list('rev-alice').map(({ identity }) => identity.source).sort(), ['header', 'message']);
    assert.equal(connections.list().length, 3);
    assert.deepEqual(connections.list('rev-nobody'), []);
    // A refresh replaces the identity; it does not add a connection.
    await aliceChat.authenticate(signToken({ sub: 'rev-alice', username: 'rev-alice', roles: ['user', 'admin'] }));
    assert.equal(connections.count('rev-alice'), 2);
    assert.ok(connections.list('rev-alice').some(({ identity }) => identity.roles.includes('admin')));
    await closeAll([aliceChat, aliceLive, bob, waiting]);
    assert.deepEqual(connections.list(), []);
  });

  it("disconnect(subject, reason) closes that subject's sockets on every gateway with 4403 and the reason, and no others", async () => {
    const aliceChat = await onChat('rev-kick');
    const aliceLive = await onLive('rev-kick');
    const bob = await onChat('rev-stays');
    const waiting = await openWitnessed(app.url('/live'));
    assert.equal(await connections.disconnect('rev-kick', 'Password changed'), 2);
    for (const socket of [aliceChat, aliceLive]) {
      const close = await socket.closed;
      assert.equal(close.code, 4403);
      assert.equal(close.reason, 'Password changed');
    }
    assert.equal((await bob.request('whoami')).data.subject, 'rev-stays');
    assert.equal(waiting.socket.readyState, 1, 'a socket that has not authenticated has no subject to revoke');
    await eventually(() => connections.count('rev-kick') === 0, 1000, 'revoked sockets forgotten');
    assert.equal(connections.count(), 1);
    // Nest saw both go away, like any other disconnect.
    assert.equal(dispatchesOf('RevChat', 'disconnect').filter((entry) => entry.subject === 'rev-kick').length, 1);
    assert.equal(dispatchesOf('RevLive', 'disconnect').filter((entry) => entry.subject === 'rev-kick').length, 1);
    const seen = [aliceChat.seen(await aliceChat.closed), aliceLive.seen(await aliceLive.closed), bob.seen()].join('\n');
    for (const token of tokens) {
      assert.ok(!seen.includes(token), 'no client gets a token back');
      assert.ok(!app.logs.text().includes(token), 'the log must not contain a token');
    }
    await closeAll([bob, waiting]);
  });

  it('closes with reason "Revoked" by default and truncates a long reason to fit a close frame', async () => {
    const plain = await onChat('rev-default');
    assert.equal(await connections.disconnect('rev-default'), 1);
    assert.deepEqual(await plain.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Revoked' });

    const long = await onChat('rev-long');
    await connections.disconnect('rev-long', 'é'.repeat(100));
    const close = await long.closed;
    assert.equal(close.code, 4403);
    // RFC 6455 section 5.5: 125 payload bytes, 2 of them the code; cut on a character boundary.
    assert.equal(close.reason, 'é'.repeat(61));
  });

  it('returns 0 and closes nothing for a subject with no connection here', async () => {
    const bob = await onChat('rev-bystander');
    assert.equal(await connections.disconnect('rev-absent', 'x'), 0);
    await sleep(50);
    assert.equal(bob.socket.readyState, 1);
    await closeAll([bob]);
  });

  it('leaves no timer and no entry behind for revoked sockets', async () => {
    const census = new TimerCensus([SESSION_TIMERS]).start();
    try {
      const sockets = await Promise.all([onChat('rev-census'), onChat('rev-census'), onLive('rev-census'), onLive('rev-census')]);
      assert.equal(await census.settled(), 1, 'one shared timer holds all four deadlines');
      assert.equal(await connections.disconnect('rev-census'), 4);
      await Promise.all(sockets.map((socket) => socket.closed));
      await eventually(() => census.count() === 0 && connections.count() === 0, 1000, 'timers cleared and connections forgotten');
    } finally {
      census.stop();
    }
  });
});

describe('revocation across instances through the connection bus', { timeout: 30_000 }, () => {
  let app: TestApp;
  let connections: WsConnections;
  const bus = new RecordingBus();
  before(async () => {
    app = await openApp(bus);
    connections = app.app.get(WsConnections);
  });
  after(() => app.close());

  const onChat = (sub: string) => openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub })}` } });

  it('publishes every disconnect to the configured connectionBus', async () => {
    const socket = await onChat('bus-local');
    assert.equal(await connections.disconnect('bus-local', 'Logged out everywhere'), 1);
    assert.deepEqual(bus.published, [{ subject: 'bus-local', reason: 'Logged out everywhere' }]);
    assert.deepEqual(await socket.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Logged out everywhere' });
  });

  it('closes local sockets on a command published by another instance, without publishing it again', async () => {
    assert.ok(bus.listener, 'WsConnections subscribed to the bus at startup');
    const target = await onChat('bus-remote');
    const bystander = await onChat('bus-bystander');
    const before = bus.published.length;
    bus.listener!({ subject: 'bus-remote', reason: 'From another instance' });
    assert.deepEqual(await target.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'From another instance' });
    assert.equal(bus.published.length, before);
    assert.equal((await bystander.request('whoami')).data.subject, 'bus-bystander');
    await bystander.close();
  });

  it('still closes local sockets when the bus fails, and reports the failure to the caller', async () => {
    const socket = await onChat('bus-down');
    bus.failing = true;
    try {
      await assert.rejects(connections.disconnect('bus-down', 'Bus is down'), /bus down/);
    } finally {
      bus.failing = false;
    }
    assert.equal((await socket.closed).code, 4403);
    assert.ok(app.logs.text().includes('Could not tell other instances to disconnect a subject'));
  });
});

describe('admin:kick and admin:stats in the sample', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  let aliceToken: string;
  let adminToken: string;
  before(async () => {
    sample = await startSample({ authTimeoutMs: 2000 });
    aliceToken = await sample.login('alice');
    adminToken = await sample.login('admin');
  });
  after(() => sample.close());

  const onChat = (token: string) => openWitnessed(sample.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
  async function onLive(token: string) {
    const socket = await openWitnessed(sample.ws('/live'));
    await socket.authenticate(token);
    return socket;
  }
  async function stats(admin: SocketWitness): Promise<number> {
    return (await admin.request('admin:stats')).data.connections;
  }
  /** Closes the sockets, then waits until the instance counts only `admin`. */
  async function closeAll(admin: SocketWitness, sockets: SocketWitness[]) {
    await Promise.all(sockets.map((socket) => socket.close()));
    await eventually(async () => (await stats(admin)) === 1, 1000, 'the closed sockets leaving admin:stats');
    await admin.close();
  }

  it('admin:stats counts open authenticated sockets of both gateways, not waiting ones', async () => {
    const admin = await onChat(adminToken);
    const alice = await onLive(aliceToken);
    assert.equal(await stats(admin), 2);
    const waiting = await openWitnessed(sample.ws('/live'));
    const aliceChat = await onChat(aliceToken);
    assert.equal(await stats(admin), 3);
    const adminLive = await onLive(adminToken);
    assert.equal(await stats(adminLive), 4);
    await aliceChat.close();
    await eventually(async () => (await stats(admin)) === 3, 1000, 'admin:stats dropping to 3');
    await Promise.all([waiting.close(), adminLive.close()]);
    await closeAll(admin, [alice]);
  });

  for (const adminPath of ['/chat', '/live']) {
    it(`admin:kick from ${adminPath} closes every socket of the user on both gateways with 4403`, async () => {
      const admin = adminPath === '/chat' ? await onChat(adminToken) : await onLive(adminToken);
      const aliceChat = await onChat(aliceToken);
      const aliceLive = await onLive(aliceToken);
      const reply = await admin.request('admin:kick', { username: 'alice' });
      assert.deepEqual({ event: reply.event, data: reply.data }, { event: 'admin:kick', data: { username: 'alice', disconnected: 2 } });
      for (const socket of [aliceChat, aliceLive]) {
        const close = await socket.closed;
        assert.equal(close.code, 4403);
        assert.equal(close.reason, 'Kicked by an admin');
        assert.ok(!socket.seen(close).includes(aliceToken));
      }
      await eventually(async () => (await stats(admin)) === 1, 1000, 'admin:stats dropping to the admin alone');
      assert.deepEqual((await admin.request('whoami')).data, { username: 'admin', roles: ['user', 'admin'] });
      await admin.close();
    });
  }

  it('admin:kick of an unknown user disconnects nobody', async () => {
    const admin = await onChat(adminToken);
    const alice = await onChat(aliceToken);
    assert.deepEqual((await admin.request('admin:kick', { username: 'mallory' })).data, { username: null, disconnected: 0 });
    assert.deepEqual((await admin.request('admin:kick', { username: { $ne: null } })).data, { username: null, disconnected: 0 });
    assert.equal(await stats(admin), 2);
    await closeAll(admin, [alice]);
  });

  it('refuses admin:kick and admin:stats to a non-admin with the forbidden frame, and kicks nobody', async () => {
    const admin = await onChat(adminToken);
    const adminLive = await onLive(adminToken);
    const aliceChat = await onChat(aliceToken);
    const aliceLive = await onLive(aliceToken);
    for (const alice of [aliceChat, aliceLive]) {
      const refusal = await alice.request('admin:kick', { username: 'admin' }, 'exception');
      assert.deepEqual({ event: refusal.event, data: refusal.data }, { event: 'exception', data: FORBIDDEN });
      assert.deepEqual((await alice.request('admin:stats', undefined, 'exception')).data, FORBIDDEN);
      assert.deepEqual(alice.events('admin:kick'), []);
    }
    await sleep(50);
    for (const socket of [admin, adminLive, aliceChat, aliceLive]) assert.equal(socket.socket.readyState, 1);
    assert.equal(await stats(admin), 4);
    assert.deepEqual((await adminLive.request('whoami')).data.username, 'admin');
    await adminLive.close();
    await closeAll(admin, [aliceChat, aliceLive]);
  });

  it('never logs a token', () => {
    const log = sample.logs.text();
    for (const token of [aliceToken, adminToken]) assert.ok(!log.includes(token));
  });
});
