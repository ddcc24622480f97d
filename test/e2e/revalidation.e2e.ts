import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { WsConnections, WsRefusal, WsTicketService, type WsAuthOptions, type WsIdentity, type WsJwtClaims } from '../../lib/index.js';
import { slicesPer } from '../../lib/connections/revalidation-sweep.js';
import { appModule } from '../support/fixtures.js';
import { closedWithin, within } from '../support/close-deadline.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

interface StoredUser {
  name: string;
  roles: string[];
  /** validate() throws this instead of answering. */
  fails?: Error;
}

/** The app's user store: validate() reads it on every check, so tests change answers by editing it. */
class UserStore {
  readonly users = new Map<string, StoredUser>();
  readonly calls: string[] = [];
  // A subject whose next validate() waits for the test to answer.
  private gate?: { subject: string; answer: Promise<unknown> };

  validate = (claims: WsJwtClaims): unknown => {
    const subject = claims.sub as string;
    this.calls.push(subject);
    if (this.gate?.subject === subject) {
      const { answer } = this.gate;
      this.gate = undefined;
      return answer;
    }
    const user = this.users.get(subject);
    if (user?.fails) throw user.fails;
    return user ? { ...user } : null;
  };

  /** The next validate() of `subject` waits until the returned function is called with its answer. */
  holdNext(subject: string): (answer: unknown) => void {
    let release!: (answer: unknown) => void;
    this.gate = { subject, answer: new Promise((resolve) => (release = resolve)) };
    return release;
  }

  callsOf(subject: string): number {
    return this.calls.filter((call) => call === subject).length;
  }
}

const Chat = makeRecordingGateway('RevalChat', { path: '/chat' });
const store = new UserStore();
const options: WsAuthOptions = { jwt: { secret: TEST_SECRET }, validate: store.validate, rolesOf: (user: StoredUser) => user.roles };

function tokenOf(subject: string): string {
  // Claims say admin: only the store's roles may count once rolesOf is set.
  return signToken({ sub: subject, username: subject, roles: ['admin'] });
}

async function exceptionCode(socket: SocketWitness, event: string): Promise<string> {
  const answer = socket.next('exception');
  socket.send(event);
  return (await answer).data.code;
}

function assertNoCredential(app: TestApp, socket: SocketWitness, token: string) {
  assert.ok(!socket.seen().includes(token), 'the client must not get its token back');
  assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
}

describe('WsConnections.revalidate: identities that stay current', { timeout: 30_000 }, () => {
  let app: TestApp;
  let connections: WsConnections;
  const changes: Array<{ client: WebSocket; identity: WsIdentity; previous: WsIdentity }> = [];
  const sockets: SocketWitness[] = [];

  async function connect(subject: string, roles = ['admin']): Promise<{ socket: SocketWitness; token: string }> {
    store.users.set(subject, { name: subject, roles });
    const token = tokenOf(subject);
    const socket = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    sockets.push(socket);
    return { socket, token };
  }

  before(async () => {
    app = await startTestApp(appModule([Chat], options));
    connections = app.app.get(WsConnections);
    connections.onIdentityChanged((client, identity, previous) => changes.push({ client, identity, previous }));
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await app.close();
  });

  it('puts new roles in place without a reconnect: a @Roles handler answers forbidden at once', async () => {
    const { socket, token } = await connect('reval-demoted');
    assert.equal((await socket.request('admin')).data, 'ok');
    store.users.set('reval-demoted', { name: 'reval-demoted', roles: ['user'] });
    const before = changes.length;
    assert.equal(await connections.revalidate('reval-demoted'), 1);
    assert.equal(await exceptionCode(socket, 'admin'), 'forbidden');
    const whoami = await socket.request('whoami');
    assert.deepEqual(whoami.data.roles, ['user']);
    assert.deepEqual(whoami.data.user, { name: 'reval-demoted', roles: ['user'] });
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
    const change = changes.slice(before);
    assert.equal(change.length, 1, 'onIdentityChanged fires once for the re-check');
    assert.deepEqual(change[0].previous.roles, ['admin']);
    assert.deepEqual(change[0].identity.roles, ['user']);
    assert.equal(change[0].identity.expiresAt, change[0].previous.expiresAt, 'the expiry is the credential’s');
    assertNoCredential(app, socket, token);
  });

  it('closes a deleted user with 4401', async () => {
    const { socket, token } = await connect('reval-deleted');
    store.users.delete('reval-deleted');
    assert.equal(await connections.revalidate('reval-deleted'), 1);
    const close = await closedWithin(socket);
    assert.equal(close.code, 4401);
    assert.equal(connections.count('reval-deleted'), 0);
    assertNoCredential(app, socket, token);
  });

  it('closes with 4403 when validate() refuses with forbidden', async () => {
    const { socket, token } = await connect('reval-banned');
    store.users.set('reval-banned', { name: 'reval-banned', roles: ['admin'], fails: new WsRefusal('forbidden') });
    await connections.revalidate('reval-banned');
    const close = await closedWithin(socket);
    assert.equal(close.code, 4403);
    assertNoCredential(app, socket, token);
  });

  it('keeps the connection when validate() fails without a verdict, and logs the error name once', async () => {
    const { socket, token } = await connect('reval-outage');
    const secretText = `db at postgres://admin:${token}@db`;
    store.users.set('reval-outage', { name: 'reval-outage', roles: ['user'], fails: new RangeError(secretText) });
    const failures = connections.revalidation.failures;
    await connections.revalidate('reval-outage');
    await connections.revalidate('reval-outage');
    assert.equal(connections.revalidation.failures, failures + 2);
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
    assert.deepEqual((await socket.request('admin')).data, 'ok', 'the last good identity stays');
    const lines = app.logs.lines.filter((line) => line.includes('re-check could not be made'));
    assert.equal(lines.length, 1, 'one line per outage, not one per connection');
    assert.match(lines[0], /RangeError/);
    assert.ok(!app.logs.text().includes('postgres://'), 'the error message stays out of the log');
    store.users.set('reval-outage', { name: 'reval-outage', roles: ['admin'] });
    await connections.revalidate('reval-outage');
    assert.ok(app.logs.lines.some((line) => line.includes('Re-checks succeed again')));
    assertNoCredential(app, socket, token);
  });

  it('drops the answer of a re-check overtaken by a refresh', async () => {
    const { socket, token } = await connect('reval-refreshed');
    const answer = store.holdNext('reval-refreshed');
    const pending = connections.revalidate('reval-refreshed');
    const before = changes.length;
    const fresh = signToken({ sub: 'reval-refreshed', username: 'reval-refreshed', roles: ['admin'] }, { expiresIn: 600 });
    await socket.authenticate(fresh);
    // The stale answer says the user is gone: applied, it would close the refreshed connection.
    answer(null);
    assert.equal(await within(pending, 3000, 'revalidate'), 1);
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
    assert.equal((await socket.request('admin')).data, 'ok');
    const change = changes.slice(before);
    assert.equal(change.length, 1, 'onIdentityChanged fires for the refresh only');
    assert.notEqual(change[0].identity.expiresAt, change[0].previous.expiresAt);
    assertNoCredential(app, socket, token);
    assertNoCredential(app, socket, fresh);
  });

  it('drops a stale answer that would change the roles', async () => {
    const { socket } = await connect('reval-overtaken');
    const answer = store.holdNext('reval-overtaken');
    const pending = connections.revalidate('reval-overtaken');
    await socket.authenticate(signToken({ sub: 'reval-overtaken', username: 'reval-overtaken' }, { expiresIn: 600 }));
    answer({ name: 'reval-overtaken', roles: ['user'] });
    await within(pending, 3000, 'revalidate');
    assert.deepEqual((await socket.request('whoami')).data.roles, ['admin']);
  });

  it('runs one re-check per connection at a time, and once more for any asks meanwhile', async () => {
    const { socket } = await connect('reval-coalesced');
    const calls = store.callsOf('reval-coalesced');
    const answer = store.holdNext('reval-coalesced');
    const asks = [connections.revalidate('reval-coalesced'), connections.revalidate('reval-coalesced'), connections.revalidate('reval-coalesced')];
    assert.equal(store.callsOf('reval-coalesced'), calls + 1, 'no second validate() while one runs');
    answer({ name: 'reval-coalesced', roles: ['user'] });
    await within(Promise.all(asks), 3000, 'revalidate');
    assert.equal(store.callsOf('reval-coalesced'), calls + 2, 'exactly one run after it');
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
  });

  it('closes an app-vouched ticket connection that validate() now refuses, and never replaces its vouched roles', async () => {
    store.users.set('reval-vouched', { name: 'reval-vouched', roles: ['user'] });
    const identity = { user: { name: 'vouched' }, subject: 'reval-vouched', roles: ['admin'], claims: { sub: 'reval-vouched' }, source: 'custom' as const };
    const { ticket } = await app.app.get(WsTicketService).issue(identity);
    const socket = await openWitnessed(app.url(`/chat?ticket=${ticket}`));
    sockets.push(socket);
    assert.equal(await connections.revalidate('reval-vouched'), 1);
    assert.deepEqual((await socket.request('whoami')).data.roles, ['admin'], 'the roles the app vouched for stay');
    store.users.delete('reval-vouched');
    await connections.revalidate('reval-vouched');
    assert.equal((await closedWithin(socket)).code, 4401);
    assert.ok(!socket.seen().includes(ticket) && !app.logs.text().includes(ticket), 'the ticket stays secret');
  });

  it('refuses an empty subject', async () => {
    await assert.rejects(connections.revalidate(''), TypeError);
  });
});

describe('revalidateIntervalMs: every connection, spread over the interval', { timeout: 30_000 }, () => {
  const INTERVAL_MS = 200;
  const COUNT = 12;
  let app: TestApp;
  const sockets: SocketWitness[] = [];
  const periodic = new UserStore();
  // validate() calls that ran in one macrotask: one timer tick of the sweep.
  const batches: number[] = [];
  let current = 0;
  const recording = (claims: WsJwtClaims): unknown => {
    if (current++ === 0) setImmediate(() => (batches.push(current), (current = 0)));
    return periodic.validate(claims);
  };

  before(async () => {
    app = await startTestApp(
      appModule([Chat], {
        jwt: { secret: TEST_SECRET },
        validate: recording,
        rolesOf: (user: StoredUser) => user.roles,
        revalidateIntervalMs: INTERVAL_MS,
      }),
    );
    for (let i = 0; i < COUNT; i++) {
      const subject = `sweep-${i}`;
      periodic.users.set(subject, { name: subject, roles: ['admin'] });
      sockets.push(await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${tokenOf(subject)}` } }));
    }
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await app.close();
  });

  it('re-checks every connection, never all in one tick', async () => {
    batches.length = 0;
    const seen = periodic.calls.length;
    // Twice each: at least one whole round began after every connection was open.
    await eventually(
      () => Array.from({ length: COUNT }, (_, i) => `sweep-${i}`).every((subject) => periodic.calls.slice(seen).filter((call) => call === subject).length >= 2),
      5000,
      'every connection re-checked in two rounds',
    );
    const perSlice = Math.ceil(COUNT / slicesPer(INTERVAL_MS));
    assert.ok(perSlice < COUNT);
    assert.ok(Math.max(...batches) <= perSlice, `batches ${JSON.stringify(batches)} exceed ${perSlice} per tick`);
  });

  it('applies a role change without an explicit revalidate()', async () => {
    periodic.users.set('sweep-0', { name: 'sweep-0', roles: ['user'] });
    await eventually(async () => (await sockets[0].request('whoami')).data.roles[0] === 'user', 5000, 'the new roles');
    assert.equal(await exceptionCode(sockets[0], 'admin'), 'forbidden');
  });

  it('closes a deleted user with 4401', async () => {
    periodic.users.delete('sweep-1');
    assert.equal((await closedWithin(sockets[1], 5000)).code, 4401);
  });
});
