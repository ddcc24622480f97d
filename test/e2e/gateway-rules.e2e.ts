import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  WsAuthAdapter,
  WsAuthModule,
  WsTicketService,
  type WsAuthenticateFn,
  type WsAuthOptions,
  type WsCertificateValidateFn,
  type WsIdentity,
} from '../../lib/index.js';
import { closedWithin } from '../support/close-deadline.js';
import { createTestPki, escapedPem, opensslAvailable, type TestPki } from '../support/certificates.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { LogCapture } from '../support/log-capture.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket, type Outcome } from '../support/ws-client.js';

const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'forbidden' };
// issueForToken needs a request only to hand it to validate(); these validates ignore it.
const NO_REQUEST = { headers: {}, socket: {} } as unknown as IncomingMessage;
const API_KEY = 'gr_live_service_key_5b2d4f6a8c0e7f3a9c1e';

/** The module's rule: it knows every user but one. */
const moduleValidate: WsAuthOptions['validate'] = (claims) => (claims.username === 'module-banned' ? null : { ...claims, via: 'module' });

/** A service key that stands for the same principal (`sub`) as a user JWT could. */
const apiKey: WsAuthenticateFn = (request) =>
  request.headers['x-api-key'] === API_KEY
    ? { user: { username: 'billing-service' }, subject: 'gr-shared', roles: ['service'], expiresAt: Date.now() + 60_000 }
    : null;

function assertRefused(outcome: Outcome, status: number, app: TestApp, secrets: string[]): void {
  if (outcome.kind === 'open') outcome.socket.close();
  assert.equal(outcome.kind, 'refused', outcome.kind === 'open' ? `upgraded, expected ${status}` : JSON.stringify(outcome));
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.status, status);
  const seen = outcome.body + JSON.stringify(outcome.headers);
  for (const secret of secrets) {
    assert.ok(!seen.includes(secret), 'the response must not echo a credential');
    assert.ok(!app.logs.text().includes(secret), 'the log must not contain a credential');
  }
}

/**
 * A connection that authenticated one way and sends a user JWT for the same `sub`: it must be
 * closed with 4403 and must never act as that JWT's user, not even for a message sent while
 * the refresh is being judged.
 */
async function assertRefreshOfAnotherKindRefused(
  app: TestApp,
  socket: SocketWitness,
  gateway: string,
  expected: { source: string; roles: string[] },
  jwt: string,
) {
  const before = (await socket.request('whoami')).data;
  assert.equal(before.source, expected.source);
  assert.deepEqual(before.roles, expected.roles);
  const adminsBefore = dispatchesOf(gateway, 'admin').length;
  socket.send('authenticate', { token: jwt });
  socket.send('admin');
  socket.send('whoami');
  const close = await closedWithin(socket);
  assert.equal(close.code, 4403, `got ${close.code} "${close.reason}" after ${JSON.stringify(socket.frames.map((frame) => frame.text))}`);
  assert.deepEqual(socket.events('authenticated'), [], 'the refresh must not be accepted');
  assert.deepEqual(socket.events('admin'), [], 'the JWT user must never pass the role check');
  for (const frame of socket.events('exception')) assert.deepEqual(frame.data, FORBIDDEN);
  for (const frame of socket.events('whoami')) {
    assert.equal(frame.data.source, expected.source, 'the connection never becomes the JWT user');
    assert.deepEqual(frame.data.roles, expected.roles);
  }
  await sleep(50);
  assert.equal(dispatchesOf(gateway, 'admin').length, adminsBefore);
  assert.ok(!socket.seen(close).includes(jwt), 'the client must not get its token back');
  assert.ok(!app.logs.text().includes(jwt), 'the log must not contain the token');
}

describe('one identity, checked by the gateway it opens', { timeout: 30_000 }, () => {
  let app: TestApp;
  let tickets: WsTicketService;
  const secrets: string[] = [];

  before(async () => {
    app = await startTestApp(
      appModule(
        [
          makeGateway('GrPlain', 0, { path: '/plain' }),
          makeGateway('GrStrict', 0, {
            path: '/strict',
            wsAuth: { validate: (claims) => (claims.username === 'mallory' ? null : { ...claims, via: 'strict' }) },
          }),
          makeGateway('GrMapped', 0, { path: '/mapped', wsAuth: { validate: (claims) => ({ username: `mapped-${String(claims.username)}`, via: 'mapped' }) } }),
          makeGateway('GrPerms', 0, { path: '/perms', wsAuth: { rolesClaim: 'perms' } }),
          makeRecordingGateway('GrKey', { path: '/key', wsAuth: { authenticate: apiKey } }),
          makeRecordingGateway('GrJwt', { path: '/jwt' }),
        ],
        { jwt: { secret: TEST_SECRET }, validate: moduleValidate },
      ),
    );
    tickets = app.app.get(WsTicketService);
  });
  after(() => app.close());

  function token(sub: string, claims: Record<string, unknown> = {}): string {
    const signed = signToken({ sub, username: sub, ...claims });
    secrets.push(signed);
    return signed;
  }
  async function ticketFor(jwt: string): Promise<string> {
    const { ticket } = await tickets.issueForToken(jwt, NO_REQUEST);
    secrets.push(ticket);
    return ticket;
  }
  async function ticketOf(identity: WsIdentity): Promise<string> {
    const { ticket } = await tickets.issue(identity);
    secrets.push(ticket);
    return ticket;
  }
  function identityOf(sub: string, claims: Record<string, unknown> = {}): WsIdentity {
    const all = { sub, username: sub, roles: ['user'], ...claims };
    return { user: { username: sub }, subject: sub, roles: all.roles as string[], claims: all, source: 'header', expiresAt: Date.now() + 60_000 };
  }
  const withTicket = (path: string, ticket: string) => openWitnessed(app.url(`${path}?ticket=${ticket}`));

  it("refuses with 401 a ticket whose user the gateway's own validate refuses, which the module's validate accepted", async () => {
    const mallory = token('gr-mallory', { username: 'mallory' });
    assertRefused(await openSocket(app.url(`/strict?ticket=${await ticketFor(mallory)}`)), 401, app, secrets);
    assertRefused(await openSocket(app.url(`/strict?ticket=${await ticketOf(identityOf('gr-mallory', { username: 'mallory' }))}`)), 401, app, secrets);
    // Control: the same user opens a gateway without a rule of its own, and others pass /strict.
    const plain = await withTicket('/plain', await ticketFor(mallory));
    assert.equal((await plain.request('whoami')).data.username, 'mallory');
    await plain.close();
    const strict = await withTicket('/strict', await ticketFor(token('gr-alice', { username: 'alice' })));
    const whoami = (await strict.request('whoami')).data;
    assert.equal(whoami.user.via, 'strict', 'the gateway that opened it judged the identity');
    assert.equal(whoami.source, 'ticket');
    await strict.close();
  });

  it("shows the user the gateway's validate returns, for a ticket issued from a token or an identity", async () => {
    const fromToken = await withTicket('/mapped', await ticketFor(token('gr-bob', { username: 'bob' })));
    assert.deepEqual((await fromToken.request('whoami')).data.user, { username: 'mapped-bob', via: 'mapped' });
    await fromToken.close();
    const fromIdentity = await withTicket('/mapped', await ticketOf(identityOf('gr-carol', { username: 'carol' })));
    assert.deepEqual((await fromIdentity.request('whoami')).data.user, { username: 'mapped-carol', via: 'mapped' });
    await fromIdentity.close();
  });

  it("reads roles from the claims of a ticket's token at the gateway's rolesClaim", async () => {
    const jwt = token('gr-perms', { perms: ['admin'], roles: ['user'] });
    const perms = await withTicket('/perms', await ticketFor(jwt));
    assert.deepEqual((await perms.request('whoami')).data.roles, ['admin']);
    assert.equal((await perms.request('admin')).data, 'ok');
    await perms.close();
    // Control: the module's rolesClaim on a gateway without its own.
    const plain = await withTicket('/plain', await ticketFor(jwt));
    assert.deepEqual((await plain.request('whoami')).data.roles, ['user']);
    assert.deepEqual((await plain.request('admin', undefined, 'exception')).data, FORBIDDEN);
    await plain.close();
  });

  it("applies the module's validate to a gateway without its own, for a ticket issued from an identity", async () => {
    const banned = identityOf('gr-banned', { username: 'module-banned' });
    assertRefused(await openSocket(app.url(`/plain?ticket=${await ticketOf(banned)}`)), 401, app, secrets);
    const fine = await withTicket('/plain', await ticketOf(identityOf('gr-dave', { username: 'dave' })));
    assert.equal((await fine.request('whoami')).data.username, 'dave');
    await fine.close();
  });

  it('closes with 4403 a custom-authenticated (API key) connection that sends a user JWT for the same sub', async () => {
    const service = await openWitnessed(app.url('/key'), { headers: { 'X-Api-Key': API_KEY } });
    await assertRefreshOfAnotherKindRefused(app, service, 'GrKey', { source: 'custom', roles: ['service'] }, token('gr-shared', { roles: ['user', 'admin'] }));
    assert.ok(!app.logs.text().includes(API_KEY));
  });

  it('refreshes a JWT connection with a JWT of the same sub', async () => {
    const socket = await openWitnessed(app.url('/jwt'), { headers: { Authorization: `Bearer ${token('gr-refresh')}` } });
    assert.deepEqual((await socket.request('whoami')).data.roles, ['user']);
    const fresh = token('gr-refresh', { roles: ['user', 'admin'] });
    assert.equal(typeof (await socket.authenticate(fresh)).data.expiresAt, 'number');
    const whoami = (await socket.request('whoami')).data;
    assert.deepEqual(whoami.roles, ['user', 'admin']);
    assert.equal(whoami.subject, 'gr-refresh');
    assert.equal((await socket.request('admin')).data, 'ok');
    await socket.close();
    assert.ok(!socket.seen().includes(fresh));
  });

  it("judges a refresh by the gateway's own validate", async () => {
    const socket = await openWitnessed(app.url('/mapped'), { headers: { Authorization: `Bearer ${token('gr-erin', { username: 'erin' })}` } });
    await socket.authenticate(token('gr-erin', { username: 'erin2' }));
    assert.deepEqual((await socket.request('whoami')).data.user, { username: 'mapped-erin2', via: 'mapped' });
    await socket.close();
  });
});

describe('a client-certificate connection refreshed with a JWT', { skip: !opensslAvailable(), timeout: 30_000 }, () => {
  let pki: TestPki;
  let app: TestApp;
  const byCommonName: WsCertificateValidateFn = (certificate) =>
    /^CN=alice$/m.test(certificate.subject) ? { user: { username: 'alice-cert' }, subject: 'gr-cert-alice', roles: ['device'] } : null;

  before(async () => {
    pki = createTestPki();
    app = await startTestApp(
      appModule([makeRecordingGateway('GrCert', { path: '/cert', wsAuth: { credentials: ['certificate'] } })], {
        jwt: { secret: TEST_SECRET },
        // The test client plays the TLS-terminating proxy that forwards the certificate.
        clientCertificate: { validate: byCommonName, proxyHeader: 'X-Client-Cert', trustedProxies: ['127.0.0.0/8'] },
      }),
    );
  });
  after(async () => {
    await app?.close();
    pki?.remove();
  });

  it('closes with 4403 and never becomes the JWT user of the same sub', async () => {
    const device = await openWitnessed(app.url('/cert'), { headers: { 'X-Client-Cert': escapedPem(pki.alice.cert) } });
    const jwt = signToken({ sub: 'gr-cert-alice', username: 'alice', roles: ['user', 'admin'] });
    await assertRefreshOfAnotherKindRefused(app, device, 'GrCert', { source: 'certificate', roles: ['device'] }, jwt);
  });
});

/**
 * Boots like an app's main.ts and returns what stopped it. Whatever got as far as creating
 * servers is closed again.
 */
async function startupError(module: DynamicModule): Promise<Error> {
  const logs = new LogCapture();
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(module, { logger: logs, abortOnError: false });
    app.useWebSocketAdapter(new WsAuthAdapter(app));
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app?.close().catch(() => undefined);
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  await app.close();
  assert.fail('the app started although its configuration is ambiguous');
}

describe('startup refuses configurations that cannot be obeyed', { timeout: 30_000 }, () => {
  const jwtOnly: WsAuthOptions = { jwt: { secret: TEST_SECRET } };

  it('fails when two gateways on the same path have different wsAuth, naming the path', async () => {
    const cases: DynamicModule[] = [
      appModule(
        [
          makeGateway('DupHeader', 0, { path: '/dup', wsAuth: { credentials: ['header'] } }),
          makeGateway('DupInBand', 0, { path: '/dup', wsAuth: { mode: 'in-band' } }),
        ],
        jwtOnly,
      ),
      appModule([makeGateway('DupPlain', 0, { path: '/dup' }), makeGateway('DupStrict', 0, { path: '/dup', wsAuth: { validate: () => null } })], jwtOnly),
    ];
    for (const module of cases) {
      const error = await startupError(module);
      assert.match(error.message, /\/dup\b/, error.message);
    }
  });

  it('still starts two gateways sharing a path with the same (no) wsAuth', async () => {
    const app = await startTestApp(appModule([makeGateway('SharedA', 0, { path: '/shared' }), makeGateway('SharedB', 0, { path: '/shared' })], jwtOnly));
    try {
      const outcome = await openSocket(app.url('/shared'));
      assert.equal(outcome.kind === 'refused' && outcome.status, 401);
    } finally {
      await app.close();
    }
  });

  it('fails when WsAuthModule is registered more than once', async () => {
    @Module({ imports: [WsAuthModule.forRoot({ jwt: { secret: `${TEST_SECRET}-feature` } })] })
    class FeatureModule {}
    @Module({
      imports: [WsAuthModule.forRootAsync({ useFactory: () => ({ jwt: { secret: `${TEST_SECRET}-async` } }) })],
    })
    class AsyncFeatureModule {}
    @Module({})
    class RootModule {}
    const gateway = () => makeGateway('TwiceChat', 0, { path: '/chat' });
    const cases: DynamicModule[] = [
      { module: RootModule, imports: [WsAuthModule.forRoot(jwtOnly), FeatureModule], providers: [gateway()] },
      { module: RootModule, imports: [WsAuthModule.forRoot(jwtOnly), AsyncFeatureModule], providers: [gateway()] },
    ];
    for (const module of cases) {
      const error = await startupError(module);
      assert.match(error.message, /WsAuthModule.*registered more than once/i, error.message);
    }
  });
});
