import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { RedisTicketStore, RedisTopicBus, WsRevocations, WsTicketService, type WsAuthOptions } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { freePort } from '../support/free-port.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket, type Outcome } from '../support/ws-client.js';

/** A pull reader the test collects from whenever it wants to look. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

// Before any app boots: the OpenTelemetry API has no stand-in provider for metrics.
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

type Labels = Record<string, string | number>;

async function points(name: string): Promise<Array<DataPoint<number | Histogram>>> {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const found = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    if (scope.scope.name !== 'nestjs-ws-auth') continue;
    for (const metric of scope.metrics) if (metric.descriptor.name === name) found.push(...(metric.dataPoints as Array<DataPoint<number | Histogram>>));
  }
  return found;
}

/** The value (a histogram's count) summed over the points that carry exactly `labels`. */
async function valueOf(name: string, labels: Labels): Promise<number> {
  let total = 0;
  for (const point of await points(name)) {
    if (!sameLabels(point.attributes, labels)) continue;
    total += typeof point.value === 'number' ? point.value : point.value.count;
  }
  return total;
}

function sameLabels(attributes: Record<string, unknown>, labels: Labels): boolean {
  const keys = Object.keys(attributes);
  return keys.length === Object.keys(labels).length && keys.every((key) => attributes[key] === labels[key]);
}

/** How much `name{labels}` grows while `work` runs (counters are cumulative across tests). */
async function growthOf(name: string, labels: Labels, work: () => Promise<unknown>): Promise<number> {
  const before = await valueOf(name, labels);
  await work();
  return (await valueOf(name, labels)) - before;
}

const GATEWAY = 'ws_auth.gateway';
const RESULT = 'ws_auth.result';
const REASON = 'ws_auth.refusal.reason';
const SOURCE = 'ws_auth.credential.source';
const accepted = (gateway: string, source: string) => ({ [GATEWAY]: gateway, [RESULT]: 'accepted', [SOURCE]: source });
const refused = (gateway: string, reason: string) => ({ [GATEWAY]: gateway, [RESULT]: 'refused', [REASON]: reason });
const closedWith = (gateway: string, code: number, reason: string) => ({ [GATEWAY]: gateway, 'ws_auth.close.code': code, 'ws_auth.close.reason': reason });

// Everything secret or personal the tests hand the server: no attribute may ever hold one.
const secrets = new Set<string>(['127.0.0.1']);
let serial = 0;
function tokenOf(claims: Record<string, unknown> = {}, expiresIn = 300): { token: string; sub: string; jti: string } {
  const sub = `subject-${process.pid}-${++serial}`;
  const jti = `jti-${process.pid}-${serial}`;
  const token = signToken({ sub, username: sub, jti, ...claims }, { expiresIn });
  secrets.add(sub).add(jti).add(token);
  return { token, sub: (claims.sub as string | undefined) ?? sub, jti };
}
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const NO_REQUEST = { headers: {} } as IncomingMessage;

function refusedWith(outcome: Outcome, status: number) {
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  if (outcome.kind === 'refused') assert.equal(outcome.status, status);
}

const sidePort = await freePort();
const options: WsAuthOptions = { jwt: { secret: TEST_SECRET }, credentials: ['ticket', 'header', 'subprotocol', 'cookie'], authTimeoutMs: 300 };

describe('metrics through a registered OpenTelemetry SDK', { timeout: 30_000 }, () => {
  let app: TestApp;
  const open: SocketWitness[] = [];
  before(async () => {
    app = await startTestApp(
      appModule(
        [
          makeRecordingGateway('chat', { path: '/chat' }),
          makeRecordingGateway('inband', { path: '/inband', wsAuth: { mode: 'in-band' } }),
          makeGateway('side', sidePort, { path: '/side' }),
        ],
        options,
      ),
    );
  });
  after(async () => {
    for (const socket of open) socket.socket.terminate();
    await app?.close();
  });

  async function connect(path: string, init: Parameters<typeof openWitnessed>[1] = {}): Promise<SocketWitness> {
    const socket = await openWitnessed(path.startsWith('ws') ? path : app.url(path), init);
    open.push(socket);
    return socket;
  }

  it('counts accepted upgrades by gateway and credential source, and the open connections', async () => {
    const active = { [GATEWAY]: '/chat' };
    const sockets: SocketWitness[] = [];
    const byHeader = await growthOf('ws_auth.upgrade.attempts', accepted('/chat', 'header'), async () =>
      sockets.push(await connect('/chat', bearer(tokenOf().token))),
    );
    const byCookie = await growthOf('ws_auth.upgrade.attempts', accepted('/chat', 'cookie'), async () =>
      sockets.push(await connect('/chat', { headers: { Cookie: `access_token=${tokenOf().token}` } })),
    );
    const bySubprotocol = await growthOf('ws_auth.upgrade.attempts', accepted('/chat', 'subprotocol'), async () =>
      sockets.push(await connect('/chat', { protocols: ['app', `bearer.${tokenOf().token}`] })),
    );
    assert.deepEqual([byHeader, byCookie, bySubprotocol], [1, 1, 1]);
    assert.equal(await valueOf('ws_auth.connections.active', active), 3);
    assert.ok((await valueOf('ws_auth.upgrade.duration', { [GATEWAY]: '/chat', [RESULT]: 'accepted' })) >= 3);
    const [duration] = (await points('ws_auth.upgrade.duration')).filter((point) => point.attributes[RESULT] === 'accepted');
    assert.ok((duration.value as Histogram).sum! > 0 && (duration.value as Histogram).sum! < 5, 'seconds, not milliseconds');
    for (const socket of sockets) await socket.close();
    await eventually(async () => (await valueOf('ws_auth.connections.active', active)) === 0, 2000, 'the active gauge back to 0');
  });

  it('labels a gateway on a port of its own with its port', async () => {
    const growth = await growthOf('ws_auth.upgrade.attempts', accepted(`:${sidePort}/side`, 'header'), async () => {
      await (await connect(`ws://127.0.0.1:${sidePort}/side`, bearer(tokenOf().token))).close();
    });
    assert.equal(growth, 1);
  });

  it('counts refusals by reason, with their duration, and never a credential source', async () => {
    const growth = async (reason: string, work: () => Promise<Outcome>, status: number) =>
      growthOf('ws_auth.upgrade.attempts', refused('/chat', reason), async () => refusedWith(await work(), status));
    const durationBefore = await valueOf('ws_auth.upgrade.duration', { [GATEWAY]: '/chat', [RESULT]: 'refused' });
    assert.equal(await growth('invalid_credential', () => openSocket(app.url('/chat'), bearer(`${tokenOf().token}x`)), 401), 1);
    assert.equal(await growth('missing_credential', () => openSocket(app.url('/chat')), 401), 1);
    assert.equal(
      await growth(
        'origin_not_allowed',
        () => openSocket(app.url('/chat'), { headers: { ...bearer(tokenOf().token).headers, Origin: 'https://evil.example' } }),
        403,
      ),
      1,
    );
    assert.equal((await valueOf('ws_auth.upgrade.duration', { [GATEWAY]: '/chat', [RESULT]: 'refused' })) - durationBefore, 3);
    for (const point of await points('ws_auth.upgrade.attempts')) {
      if (point.attributes[RESULT] === 'refused') assert.equal(point.attributes[SOURCE], undefined);
      else assert.equal(point.attributes[REASON], undefined);
    }
  });

  it('counts a close at expiry as invalid_credential, 4401', async () => {
    const growth = await growthOf('ws_auth.connections.closed', closedWith('/chat', 4401, 'invalid_credential'), async () => {
      const socket = await connect('/chat', bearer(tokenOf({}, 2).token));
      assert.equal((await socket.closed).code, 4401);
    });
    assert.equal(growth, 1);
  });

  it('counts revocations made here and the closes they cause', async () => {
    const revocations = app.app.get(WsRevocations);
    const { token, sub } = tokenOf();
    const victim = await connect('/chat', bearer(token));
    const closes = await growthOf('ws_auth.connections.closed', closedWith('/chat', 4403, 'revoked'), async () => {
      const bySubject = await growthOf('ws_auth.revocations', { 'ws_auth.revocation.kind': 'subject', 'ws_auth.revocation.origin': 'local' }, () =>
        revocations.revoke({ subject: sub }),
      );
      assert.equal(bySubject, 1);
      assert.equal((await victim.closed).code, 4403);
    });
    assert.equal(closes, 1);
    const byJti = await growthOf('ws_auth.revocations', { 'ws_auth.revocation.kind': 'jti', 'ws_auth.revocation.origin': 'local' }, () =>
      revocations.revoke({ jti: tokenOf().jti }),
    );
    assert.equal(byJti, 1);
  });

  it('counts refreshes accepted and refused, and the close a refused one causes', async () => {
    const { token, sub } = tokenOf();
    const socket = await connect('/chat', bearer(token));
    const good = await growthOf('ws_auth.refreshes', { [GATEWAY]: '/chat', [RESULT]: 'accepted' }, async () => {
      socket.socket.send(JSON.stringify({ event: 'authenticate', data: { token: tokenOf({ sub }).token } }));
      await socket.next('authenticated');
    });
    assert.equal(good, 1);
    const closes = await growthOf('ws_auth.connections.closed', closedWith('/chat', 4403, 'subject_changed'), async () => {
      const bad = await growthOf('ws_auth.refreshes', refused('/chat', 'subject_changed'), async () => {
        socket.socket.send(JSON.stringify({ event: 'authenticate', data: { token: tokenOf().token } }));
        assert.equal((await socket.closed).code, 4403);
      });
      assert.equal(bad, 1);
    });
    assert.equal(closes, 1);
    const invalid = await connect('/chat', bearer(tokenOf().token));
    const refusedInvalid = await growthOf('ws_auth.refreshes', refused('/chat', 'invalid_credential'), async () => {
      invalid.socket.send(JSON.stringify({ event: 'authenticate', data: { token: 'not-a-token' } }));
      assert.equal((await invalid.closed).code, 4401);
    });
    assert.equal(refusedInvalid, 1);
  });

  it('counts tickets issued and redeemed, and refused at each step', async () => {
    const service = app.app.get(WsTicketService);
    const ticketCount = (operation: string, reason?: string) => ({
      'ws_auth.ticket.operation': operation,
      ...(reason ? { [RESULT]: 'refused', [REASON]: reason } : { [RESULT]: 'accepted' }),
    });
    let ticket = '';
    assert.equal(
      await growthOf('ws_auth.tickets', ticketCount('issue'), async () => {
        ({ ticket } = await service.issueForToken(tokenOf().token, NO_REQUEST));
        secrets.add(ticket);
      }),
      1,
    );
    const redeemed = await growthOf('ws_auth.tickets', ticketCount('redeem'), async () => {
      const byTicket = await growthOf('ws_auth.upgrade.attempts', accepted('/chat', 'ticket'), async () => (await connect(`/chat?ticket=${ticket}`)).close());
      assert.equal(byTicket, 1);
    });
    assert.equal(redeemed, 1);
    assert.equal(
      await growthOf('ws_auth.tickets', ticketCount('redeem', 'invalid_credential'), async () =>
        refusedWith(await openSocket(app.url(`/chat?ticket=${ticket}`)), 401),
      ),
      1,
      'a ticket redeemed twice',
    );
    assert.equal(
      await growthOf('ws_auth.tickets', ticketCount('issue', 'invalid_credential'), () =>
        assert.rejects(service.issueForToken(`${tokenOf().token}x`, NO_REQUEST), { status: 401 }),
      ),
      1,
    );
  });

  it('counts in-band sockets pending until they authenticate or time out', async () => {
    const pending = { [GATEWAY]: '/inband' };
    let waiting!: SocketWitness;
    const upgrades = await growthOf('ws_auth.upgrade.attempts', accepted('/inband', 'in_band'), async () => {
      waiting = await connect('/inband');
    });
    assert.equal(upgrades, 1);
    assert.equal(await valueOf('ws_auth.authentications.pending', pending), 1);
    waiting.socket.send(JSON.stringify({ event: 'authenticate', data: { token: tokenOf().token } }));
    await waiting.next('authenticated');
    assert.equal(await valueOf('ws_auth.authentications.pending', pending), 0);
    assert.equal(await valueOf('ws_auth.connections.active', { [GATEWAY]: '/inband' }), 1);
    const timeouts = await growthOf('ws_auth.connections.closed', closedWith('/inband', 4408, 'authentication_timeout'), async () => {
      const silent = await connect('/inband');
      assert.equal(await valueOf('ws_auth.authentications.pending', pending), 1);
      assert.equal((await silent.closed).code, 4408);
    });
    assert.equal(timeouts, 1);
    assert.equal(await valueOf('ws_auth.authentications.pending', pending), 0);
    await waiting.close();
    await eventually(async () => (await valueOf('ws_auth.connections.active', { [GATEWAY]: '/inband' })) === 0, 2000, 'the in-band connection counted closed');
  });

  it('counts a ticket store that fails as a dependency failure', async () => {
    const failing = new RedisTicketStore({
      client: {
        set: () => Promise.reject(new Error('ECONNREFUSED')),
        getDel: () => Promise.reject(new Error('ECONNREFUSED')),
      },
    });
    const growth = await growthOf('ws_auth.dependency.failures', { 'ws_auth.dependency': 'ticket_store' }, () =>
      assert.rejects(failing.take('key'), { reason: 'unavailable' }),
    );
    assert.equal(growth, 1);
  });

  it('counts a topic bus that cannot reach Redis as a dependency failure', async () => {
    const bus = new RedisTopicBus({ url: `redis://127.0.0.1:${await freePort()}` });
    try {
      const growth = await growthOf('ws_auth.dependency.failures', { 'ws_auth.dependency': 'topic_bus' }, () =>
        assert.rejects(bus.publish({ origin: 'here', topic: 'room', event: 'said', data: null }), /not published/),
      );
      assert.ok(growth >= 1, `grew by ${growth}`);
    } finally {
      bus.onModuleDestroy();
    }
  });

  // Last: it reads what every test above recorded.
  it('never puts a token, ticket, subject, token id or address in an attribute', async () => {
    const { resourceMetrics } = await reader.collect();
    let seen = 0;
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          for (const [key, value] of Object.entries(point.attributes)) {
            seen++;
            const text = String(value);
            for (const secret of secrets) assert.ok(!text.includes(secret), `${metric.descriptor.name} ${key}=${text} holds "${secret.slice(0, 24)}"`);
          }
        }
      }
    }
    assert.ok(seen > 40, `only ${seen} attributes were recorded`);
    assert.ok(secrets.size > 30);
  });
});
