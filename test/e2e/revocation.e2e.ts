import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WsConnectionBus, WsConnections, type WsDisconnectCommand, type WsDisconnectListener } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { startSample, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { SESSION_TIMERS, TimerCensus } from '../support/timer-census.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

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
    assert.deepEqual(
      connections
        .list('rev-alice')
        .map(({ identity }) => identity.source)
        .sort(),
      ['header', 'message'],
    );
    assert.equal(connections.list().length, 3);
    assert.deepEqual(connections.list('rev-nobody'), []);
    // A refresh replaces the identity; it does not add a connection.
    await aliceChat.authenticate(signToken({ sub: 'rev-alice', username: 'rev-alice', roles: ['user', 'admin'] }));
    assert.equal(connections.count('rev-alice'), 2);
    assert.ok(connections.list('rev-alice').some(({ identity }) => identity.roles.includes('admin')));
    await closeAll([aliceChat, aliceLive, bob, waiting]);
    assert.deepEqual(connections.list(), []);
  });

  it("disconnect(subject, reason) closes that subject's sockets on every gateway with 4403 and the reason's text, and no others", async () => {
    const aliceChat = await onChat('rev-kick');
    const aliceLive = await onLive('rev-kick');
    const bob = await onChat('rev-stays');
    const waiting = await openWitnessed(app.url('/live'));
    const disconnectsBefore: Record<string, number> = {
      RevChat: dispatchesOf('RevChat', 'disconnect').length,
      RevLive: dispatchesOf('RevLive', 'disconnect').length,
    };
    assert.equal(await connections.disconnect('rev-kick', 'credentials_changed'), 2);
    for (const socket of [aliceChat, aliceLive]) {
      const close = await socket.closed;
      assert.equal(close.code, 4403);
      assert.equal(close.reason, 'Credentials Changed');
    }
    assert.equal((await bob.request('whoami')).data.subject, 'rev-stays');
    assert.equal(waiting.socket.readyState, 1, 'a socket that has not authenticated has no subject to revoke');
    await eventually(() => connections.count('rev-kick') === 0, 1000, 'revoked sockets forgotten');
    assert.equal(connections.count(), 1);
    // Nest saw both go away, like any other disconnect. The identity is detached the moment a
    // connection is closed for an auth reason, so handleDisconnect no longer reads a subject.
    const gone = (gateway: string) => dispatchesOf(gateway, 'disconnect').length - disconnectsBefore[gateway];
    await eventually(() => gone('RevChat') === 1 && gone('RevLive') === 1, 2000, 'handleDisconnect once on each gateway');
    const seen = [aliceChat.seen(await aliceChat.closed), aliceLive.seen(await aliceLive.closed), bob.seen()].join('\n');
    for (const token of tokens) {
      assert.ok(!seen.includes(token), 'no client gets a token back');
      assert.ok(!app.logs.text().includes(token), 'the log must not contain a token');
    }
    await closeAll([bob, waiting]);
  });

  it('closes with "Revoked" by default, and with the fixed text of each reason of the vocabulary', async () => {
    const plain = await onChat('rev-default');
    assert.equal(await connections.disconnect('rev-default'), 1);
    assert.deepEqual(await plain.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Revoked' });

    const texts = { revoked: 'Revoked', logged_out: 'Logged Out', kicked: 'Kicked', banned: 'Banned', credentials_changed: 'Credentials Changed' } as const;
    for (const [reason, text] of Object.entries(texts)) {
      const socket = await onChat(`rev-${reason}`);
      assert.equal(await connections.disconnect(`rev-${reason}`, reason as keyof typeof texts), 1);
      assert.deepEqual(await socket.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: text });
    }
  });

  it('closes with "Revoked" when a JavaScript caller passes anything outside the vocabulary, never echoing it', async () => {
    // Typed callers cannot pass these; plain JavaScript and `any` can.
    for (const freeText of ['Password changed', 'Kicked by an admin', 'é'.repeat(100), '<script>', '', 'toString', '__proto__', 42, { reason: 'kicked' }]) {
      const socket = await onChat('rev-free-text');
      assert.equal(await connections.disconnect('rev-free-text', freeText as never), 1);
      assert.deepEqual(await socket.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Revoked' }, JSON.stringify(freeText));
    }
  });

  it('returns 0 and closes nothing for a subject with no connection here', async () => {
    const bob = await onChat('rev-bystander');
    assert.equal(await connections.disconnect('rev-absent', 'kicked'), 0);
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

  it('publishes every disconnect to the configured connectionBus, with its reason from the vocabulary', async () => {
    const socket = await onChat('bus-local');
    assert.equal(await connections.disconnect('bus-local', 'logged_out'), 1);
    assert.deepEqual(bus.published, [{ subject: 'bus-local', reason: 'logged_out' }]);
    assert.deepEqual(await socket.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Logged Out' });
    // A caller's free text never travels to other instances either.
    await connections.disconnect('bus-local', 'Logged out everywhere' as never);
    assert.deepEqual(bus.published.at(-1), { subject: 'bus-local', reason: 'revoked' });
  });

  it('closes local sockets on a command published by another instance, without publishing it again', async () => {
    assert.ok(bus.listener, 'WsConnections subscribed to the bus at startup');
    const target = await onChat('bus-remote');
    const bystander = await onChat('bus-bystander');
    const before = bus.published.length;
    bus.listener!({ subject: 'bus-remote', reason: 'kicked' });
    assert.deepEqual(await target.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Kicked' });
    assert.equal(bus.published.length, before);
    assert.equal((await bystander.request('whoami')).data.subject, 'bus-bystander');
    await bystander.close();
  });

  it("closes with 'Revoked' on a command whose reason is not in the vocabulary: another instance's text is never echoed", async () => {
    for (const reason of ['From another instance', '<img src=x>', 'toString', undefined, 7]) {
      const target = await onChat('bus-foreign');
      bus.listener!({ subject: 'bus-foreign', reason } as never);
      assert.deepEqual(await target.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Revoked' }, String(reason));
    }
  });

  it('still closes local sockets when the bus fails, and reports the failure to the caller', async () => {
    const socket = await onChat('bus-down');
    bus.failing = true;
    try {
      await assert.rejects(connections.disconnect('bus-down', 'banned'), /bus down/);
    } finally {
      bus.failing = false;
    }
    assert.deepEqual(await socket.closed.then(({ code, reason }) => ({ code, reason })), { code: 4403, reason: 'Banned' });
    assert.ok(app.logs.text().includes('Could not tell other instances to disconnect a subject'));
  });
});

describe('admin:kick and admin:stats in the sample', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  let aliceToken: string;
  let adminToken: string;
  const aliceTokens: string[] = [];
  // The second of the last kick: admin:kick also revokes alice's credentials issued up to then.
  let kickedIn = 0;
  before(async () => {
    sample = await startSample({ authTimeoutMs: 2000 });
    adminToken = await sample.login('admin');
  });
  after(() => sample.close());

  /** A login of alice's that no earlier kick revoked: a token issued in a later second. */
  async function aliceLogsIn(): Promise<string> {
    while (nowSeconds() <= kickedIn) await sleep(20);
    aliceToken = await sample.login('alice');
    aliceTokens.push(aliceToken);
    return aliceToken;
  }
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
    await aliceLogsIn();
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
      await aliceLogsIn();
      const admin = adminPath === '/chat' ? await onChat(adminToken) : await onLive(adminToken);
      const aliceChat = await onChat(aliceToken);
      const aliceLive = await onLive(aliceToken);
      const reply = await admin.request('admin:kick', { username: 'alice' });
      kickedIn = nowSeconds();
      assert.deepEqual({ event: reply.event, data: reply.data }, { event: 'admin:kick', data: { username: 'alice', disconnected: 2 } });
      for (const socket of [aliceChat, aliceLive]) {
        const close = await socket.closed;
        assert.equal(close.code, 4403);
        assert.equal(close.reason, 'Kicked');
        assert.ok(!socket.seen(close).includes(aliceToken));
      }
      await eventually(async () => (await stats(admin)) === 1, 1000, 'admin:stats dropping to the admin alone');
      assert.deepEqual((await admin.request('whoami')).data, { username: 'admin', roles: ['user', 'admin'] });
      // A kick also locks alice out until she logs in again.
      const refused = await rawUpgrade(sample.config.port, upgradeRequest('/chat', [['Authorization', `Bearer ${aliceToken}`]]));
      assert.equal(refused.status, 401);
      assert.equal(JSON.parse(refused.body).reason, 'credential_revoked');
      assert.ok(!refused.raw.includes(aliceToken));
      const again = await onChat(await aliceLogsIn());
      assert.equal((await again.request('whoami')).data.username, 'alice');
      await closeAll(admin, [again]);
    });
  }

  it('admin:kick of an unknown user disconnects nobody', async () => {
    await aliceLogsIn();
    const admin = await onChat(adminToken);
    const alice = await onChat(aliceToken);
    assert.deepEqual((await admin.request('admin:kick', { username: 'mallory' })).data, { username: null, disconnected: 0 });
    assert.deepEqual((await admin.request('admin:kick', { username: { $ne: null } })).data, { username: null, disconnected: 0 });
    assert.equal(await stats(admin), 2);
    await closeAll(admin, [alice]);
  });

  it('refuses admin:kick and admin:stats to a non-admin with the forbidden frame, and kicks nobody', async () => {
    await aliceLogsIn();
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
    for (const token of [...aliceTokens, adminToken]) assert.ok(!log.includes(token));
  });
});
