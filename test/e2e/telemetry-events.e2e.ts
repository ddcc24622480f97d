import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Subscription } from 'rxjs';
import {
  WsAuthEvents,
  WsRevocations,
  WsRevocationStore,
  WsTicketService,
  type WsAuthEvent,
  type WsAuthOptions,
  type WsRevocation,
  type WsRevocationSink,
} from '../../lib/index.js';
import { authMetrics } from '../../lib/telemetry/auth-metrics.js';
import { appModule } from '../support/fixtures.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket } from '../support/ws-client.js';

// No OpenTelemetry SDK is registered in this process: the metrics are no-ops throughout.

/** A store that lets the test play another instance announcing a revocation. */
class AnnouncingStore extends WsRevocationStore {
  sink?: WsRevocationSink;
  async open(sink: WsRevocationSink): Promise<void> {
    this.sink = sink;
  }
  async add(): Promise<void> {}
  async remove(): Promise<void> {}
}

const credentials = new Set<string>();
let serial = 0;
function tokenOf(claims: Record<string, unknown> = {}, expiresIn = 300): { token: string; sub: string; jti: string } {
  const sub = `subject-${++serial}`;
  const jti = `jti-${serial}`;
  const token = signToken({ sub, username: sub, jti, ...claims }, { expiresIn });
  credentials.add(token);
  return { token, sub: (claims.sub as string | undefined) ?? sub, jti };
}
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const NO_REQUEST = { headers: {} } as IncomingMessage;

describe('audit events through WsAuthEvents', { timeout: 30_000 }, () => {
  let app: TestApp;
  let events: WsAuthEvents;
  let subscription: Subscription;
  const store = new AnnouncingStore();
  const seen: WsAuthEvent[] = [];
  const open: SocketWitness[] = [];
  const options: WsAuthOptions = { jwt: { secret: TEST_SECRET }, authTimeoutMs: 300, revocation: { store } };

  before(async () => {
    app = await startTestApp(
      appModule([makeRecordingGateway('chat', { path: '/chat' }), makeRecordingGateway('inband', { path: '/inband', wsAuth: { mode: 'in-band' } })], options),
    );
    events = app.app.get(WsAuthEvents);
    subscription = events.events$.subscribe((event) => seen.push(event));
  });
  after(async () => {
    subscription?.unsubscribe();
    for (const socket of open) socket.socket.terminate();
    await app?.close();
  });

  async function connect(path: string, init: Parameters<typeof openWitnessed>[1] = {}): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url(path), init);
    open.push(socket);
    return socket;
  }

  /** The events `work` caused, in order. */
  async function during(work: () => Promise<unknown>): Promise<WsAuthEvent[]> {
    const from = seen.length;
    await work();
    return seen.slice(from);
  }

  function withoutTimes(list: WsAuthEvent[]) {
    return list.map(({ at, ...rest }) => {
      assert.ok(Math.abs(at - Date.now()) < 5000, 'at is epoch milliseconds');
      return rest;
    });
  }

  it('runs without any OpenTelemetry SDK registered', async () => {
    assert.equal(authMetrics.enabled, false);
    const socket = await connect('/chat', bearer(tokenOf().token));
    assert.equal((await socket.request('echo', 'hi')).data, 'hi');
    await socket.close();
  });

  it('emits connection.accepted with the subject and the credential source', async () => {
    const { token, sub } = tokenOf();
    const emitted = await during(() => connect('/chat', bearer(token)));
    assert.deepEqual(withoutTimes(emitted), [{ type: 'connection.accepted', gateway: '/chat', subject: sub, source: 'header', remoteAddress: '127.0.0.1' }]);
  });

  it('emits connection.refused with the reason and status, and never a subject', async () => {
    const { token } = tokenOf();
    const emitted = await during(async () => {
      await openSocket(app.url('/chat'), { headers: { ...bearer(token).headers, Origin: 'https://evil.example' } });
      await openSocket(app.url('/chat'), bearer(`${token}x`));
      await openSocket(app.url('/chat'));
    });
    assert.deepEqual(withoutTimes(emitted), [
      { type: 'connection.refused', gateway: '/chat', reason: 'origin_not_allowed', status: 403, remoteAddress: '127.0.0.1' },
      { type: 'connection.refused', gateway: '/chat', reason: 'invalid_credential', status: 401, remoteAddress: '127.0.0.1' },
      { type: 'connection.refused', gateway: '/chat', reason: 'missing_credential', status: 401, remoteAddress: '127.0.0.1' },
    ]);
    for (const event of emitted) assert.ok(!('subject' in event));
  });

  it('emits connection.closed at expiry', async () => {
    const { token, sub } = tokenOf({}, 2);
    const socket = await connect('/chat', bearer(token));
    const emitted = await during(() => socket.closed);
    assert.deepEqual(withoutTimes(emitted), [
      { type: 'connection.closed', gateway: '/chat', subject: sub, code: 4401, reason: 'invalid_credential', remoteAddress: '127.0.0.1' },
    ]);
  });

  it('emits connection.refreshed, then connection.closed when a refresh is refused', async () => {
    const { token, sub } = tokenOf();
    const socket = await connect('/chat', bearer(token));
    const refreshed = await during(() => socket.authenticate(tokenOf({ sub }).token));
    assert.deepEqual(withoutTimes(refreshed), [{ type: 'connection.refreshed', gateway: '/chat', subject: sub, remoteAddress: '127.0.0.1' }]);
    const refused = await during(async () => {
      socket.send('authenticate', { token: tokenOf().token });
      await socket.closed;
    });
    assert.deepEqual(withoutTimes(refused), [
      { type: 'connection.closed', gateway: '/chat', subject: sub, code: 4403, reason: 'subject_changed', remoteAddress: '127.0.0.1' },
    ]);
  });

  it('emits credential.revoked for revocations made here, then the closes they cause', async () => {
    const revocations = app.app.get(WsRevocations);
    const { token, sub } = tokenOf();
    const socket = await connect('/chat', bearer(token));
    const emitted = await during(async () => {
      await revocations.revoke({ subject: sub }, 'banned');
      await socket.closed;
      await revocations.revoke({ jti: 'jti-by-id' }, 'logged_out');
    });
    assert.deepEqual(withoutTimes(emitted), [
      { type: 'credential.revoked', kind: 'subject', subject: sub, reason: 'banned', origin: 'local' },
      { type: 'connection.closed', gateway: '/chat', subject: sub, code: 4403, reason: 'revoked', remoteAddress: '127.0.0.1' },
      { type: 'credential.revoked', kind: 'jti', jti: 'jti-by-id', reason: 'logged_out', origin: 'local' },
    ]);
  });

  it('emits credential.revoked from another instance once, not for an echo of its own', async () => {
    const revocations = app.app.get(WsRevocations);
    const remote: WsRevocation = { kind: 'jti', jti: 'jti-from-afar', expiresAt: Date.now() + 60_000, reason: 'kicked' };
    const emitted = await during(async () => {
      store.sink!.added(remote);
      // A shared store delivers every change to every instance, the one that made it included.
      store.sink!.added(remote);
      for (const own of revocations.list()) store.sink!.added(own);
    });
    assert.deepEqual(withoutTimes(emitted), [{ type: 'credential.revoked', kind: 'jti', jti: 'jti-from-afar', reason: 'kicked', origin: 'remote' }]);
  });

  it('emits connection.accepted for an in-band socket once it authenticated, and connection.closed for one that did not', async () => {
    const { token, sub } = tokenOf();
    const emitted = await during(async () => {
      const socket = await connect('/inband');
      await socket.authenticate(token);
      const silent = await connect('/inband');
      await silent.closed;
    });
    assert.deepEqual(withoutTimes(emitted), [
      { type: 'connection.accepted', gateway: '/inband', subject: sub, source: 'message', remoteAddress: '127.0.0.1' },
      { type: 'connection.closed', gateway: '/inband', subject: undefined, code: 4408, reason: 'authentication_timeout', remoteAddress: '127.0.0.1' },
    ]);
  });

  it('emits connection.accepted for a ticket, and no event ever holds a token or a ticket', async () => {
    const { ticket } = await app.app.get(WsTicketService).issueForToken(tokenOf().token, NO_REQUEST);
    credentials.add(ticket);
    const emitted = await during(async () => {
      await (await connect(`/chat?ticket=${ticket}`)).close();
      await openSocket(app.url(`/chat?ticket=${ticket}`));
    });
    assert.deepEqual(
      emitted.map((event) => [event.type, 'source' in event ? event.source : (event as { reason?: string }).reason]),
      [
        ['connection.accepted', 'ticket'],
        ['connection.refused', 'invalid_credential'],
      ],
    );
    assert.ok(seen.length > 15);
    for (const event of seen) {
      const text = JSON.stringify(event);
      for (const credential of credentials) assert.ok(!text.includes(credential), `${event.type} holds a credential`);
    }
    const types = new Set(seen.map((event) => event.type));
    assert.deepEqual([...types].sort(), ['connection.accepted', 'connection.closed', 'connection.refreshed', 'connection.refused', 'credential.revoked']);
  });

  it('builds no event once nobody listens', async () => {
    subscription.unsubscribe();
    assert.equal(events.observed, false);
    const late: WsAuthEvent[] = [];
    const again = events.events$.subscribe((event) => late.push(event));
    assert.equal(events.observed, true);
    await (await connect('/chat', bearer(tokenOf().token))).close();
    again.unsubscribe();
    assert.equal(events.observed, false);
    await eventually(() => late.length === 1, 1000, 'one event for the one subscriber');
  });
});
