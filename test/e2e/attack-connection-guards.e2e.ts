import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpException, Injectable, Module, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { WebSocketGateway, WsException } from '@nestjs/websockets';
import { EMPTY, Observable, of, throwError } from 'rxjs';
import { getWsConnectionAttempt, Roles, UseConnectionGuards, WsAuthModule, WsConnections, WsRevocations } from '../../lib/index.js';
import { assertNotLeaked, assertNotUpgraded, assertRefused } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { eventually, openWitnessed, sleep } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { TimerCensus } from '../support/timer-census.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openOrFail, request } from '../support/ws-client.js';
import { connectedTo, CountedGateway } from '../support/counted-gateway.js';

const bearerOf = (context: ExecutionContext) => String(getWsConnectionAttempt(context)?.request.headers.authorization ?? '');

/**
 * Answers as the `x-mode` header says, always with the caller's credential in what it throws:
 * whatever a guard throws or returns, the answer is fixed and the credential stays inside.
 */
@Injectable()
class OddGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // Answers no guard's type allows, as a buggy guard in plain JavaScript would.
    return this.answer(context) as boolean;
  }

  private answer(context: ExecutionContext): unknown {
    const attempt = getWsConnectionAttempt(context);
    if (!attempt) return true;
    const secret = bearerOf(context);
    switch (attempt.request.headers['x-mode']) {
      case 'throw-string':
        throw secret;
      case 'throw-null':
        // oxlint-disable-next-line no-throw-literal -- the non-Error a buggy guard throws
        throw null;
      case 'throw-status-200':
        // oxlint-disable-next-line no-throw-literal -- the non-Error a buggy guard throws
        throw { status: 200, message: secret };
      case 'http-302':
        throw new HttpException({ location: secret }, 302);
      case 'http-101':
        throw new HttpException(secret, 101);
      case 'http-200':
        throw new HttpException(secret, 200);
      case 'http-400':
        throw new HttpException(secret, 400);
      case 'ws-exception':
        throw new WsException(secret);
      case 'false-string':
        return 'false';
      case 'empty-object':
        return {};
      case 'zero':
        return 0;
      case 'promise-undefined':
        return Promise.resolve(undefined);
      case 'promise-reject-string':
        return Promise.reject(secret);
      case 'observable-error':
        return throwError(() => new Error(secret));
      case 'observable-last-false':
        return of(true, true, false);
      case 'observable-last-true':
        return of(false, true);
      case 'observable-empty':
        return EMPTY;
      case 'promise-of-observable-false':
        return Promise.resolve(of(false));
      case 'observable-true-never-completes':
        return new Observable<boolean>((subscriber) => subscriber.next(true));
      default:
        return true;
    }
  }
}

/** Holds each attempt until the test releases it, so a revocation can land meanwhile. */
const gates: Array<(verdict: boolean) => void> = [];

@Injectable()
class GateGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!getWsConnectionAttempt(context)) return true;
    return new Promise<boolean>((resolve) => gates.push(resolve));
  }
}

/** Refuses every attempt after a pause: many refusals that each start a deadline. */
@Injectable()
class SlowNoGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!getWsConnectionAttempt(context)) return true;
    await new Promise((resolve) => setImmediate(resolve));
    return false;
  }
}

/** The README's pattern: judge the connection at the upgrade, let every message of it through. */
@Injectable()
class AcmeTenantGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const attempt = getWsConnectionAttempt(context);
    return attempt === undefined || attempt.identity.claims.tenant === 'acme';
  }
}

@WebSocketGateway({ path: '/admin' })
@Roles('admin')
class AdminGateway extends CountedGateway {}

@WebSocketGateway({ path: '/acme' })
@UseConnectionGuards(AcmeTenantGuard)
class AcmeGateway extends CountedGateway {}

@WebSocketGateway({ path: '/open' })
class OpenGateway extends CountedGateway {}

@WebSocketGateway({ path: '/odd', wsAuth: { verifyTimeoutMs: 150 } })
@UseConnectionGuards(OddGuard)
class OddGateway extends CountedGateway {}

@WebSocketGateway({ path: '/gate', wsAuth: { verifyTimeoutMs: 3000 } })
@UseConnectionGuards(GateGuard)
class GateGateway extends CountedGateway {}

@WebSocketGateway({ path: '/slow-no' })
@UseConnectionGuards(SlowNoGuard)
class SlowNoGateway extends CountedGateway {}

@WebSocketGateway({ path: '/in-band-admin', wsAuth: { mode: 'in-band', verifyTimeoutMs: 3000 } })
@Roles('admin')
@UseConnectionGuards(GateGuard)
class InBandGateGateway extends CountedGateway {}

@Module({
  imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET } })],
  providers: [AdminGateway, AcmeGateway, OpenGateway, OddGateway, GateGateway, SlowNoGateway, InBandGateGateway],
})
class AttackModule {}

const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];

/** Writes `text` as is and collects everything the server sends until it closes (or `ms` pass). */
function rawExchange(port: number, text: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(text);
  });
}

describe('attack: connection-time authorization', { timeout: 60_000 }, () => {
  let app: TestApp;
  const userToken = signToken({ sub: 'mallory', roles: ['user'] });
  const adminToken = signToken({ sub: 'root', roles: ['admin'] });
  before(async () => {
    app = await startTestApp(AttackModule);
  });
  after(() => app.close());

  describe("path tricks never reach /admin's server without its roles", () => {
    const tricks = [
      '/admin/',
      '//admin',
      '/admin//',
      '/ADMIN',
      '/admin?role=admin',
      '/admin#x',
      '/%61dmin',
      '/admin%2F',
      '/open/../admin',
      '/./admin',
      '/admin/../open/../admin',
      '/admin;x',
    ];
    for (const path of tricks) {
      it(`${path}: no upgrade, no handleConnection, no credential back`, async () => {
        const response = await rawUpgrade(app.port, upgradeRequest(path, bearer(userToken)));
        assertNotUpgraded(response);
        assertNotLeaked(app, response.raw, userToken);
        assert.deepEqual(connectedTo('AdminGateway'), []);
      });
    }

    it('absolute-form request target (GET http://host/admin) is judged as /admin: 403', async () => {
      const response = await rawUpgrade(app.port, upgradeRequest(`http://127.0.0.1:${app.port}/admin`, bearer(userToken)));
      assertRefused(response, 403, 'forbidden');
      assertNotLeaked(app, response.raw, userToken);
    });

    it('absolute-form target with another Host header still lands on /admin and is refused', async () => {
      const response = await rawUpgrade(app.port, upgradeRequest(`http://evil.example/admin`, bearer(userToken), 'evil.example'));
      assertNotUpgraded(response);
      assert.deepEqual(connectedTo('AdminGateway'), []);
    });

    it('a Host header with a path in it (/open, host "127.0.0.1/admin") is still /open, never /admin', async () => {
      const before = connectedTo('OpenGateway').length;
      const response = await rawUpgrade(app.port, upgradeRequest('/open', bearer(userToken), '127.0.0.1/admin'));
      assert.equal(response.status, 101);
      await eventually(() => connectedTo('OpenGateway').length === before + 1, 2000, 'the socket reaching /open');
      assert.deepEqual(connectedTo('AdminGateway'), []);
    });

    it('HTTP/1.0 upgrade to /admin is never upgraded', async () => {
      const text = upgradeRequest('/admin', bearer(userToken)).replace('HTTP/1.1', 'HTTP/1.0');
      const raw = await rawExchange(app.port, text);
      assert.ok(!raw.startsWith('HTTP/1.1 101'), `got ${raw.slice(0, 60)}`);
      assert.ok(!raw.includes(userToken));
      assert.deepEqual(connectedTo('AdminGateway'), []);
    });

    it('a second upgrade request pipelined behind an admitted one is frame bytes, not an admission to /admin', async () => {
      const text = upgradeRequest('/open', bearer(userToken)) + upgradeRequest('/admin', bearer(userToken));
      const raw = await rawExchange(app.port, text);
      assert.ok(raw.startsWith('HTTP/1.1 101'));
      assert.equal(raw.split('HTTP/1.1 101').length - 1, 1, 'exactly one upgrade');
      assert.deepEqual(connectedTo('AdminGateway'), []);
    });

    it('the same user is admitted to /open, and an admin to /admin (the tricks above are not just a dead server)', async () => {
      const open = await openOrFail(app.url('/open'), { headers: { Authorization: `Bearer ${userToken}` } });
      open.close();
      const admin = await openOrFail(app.url('/admin?x=1'), { headers: { Authorization: `Bearer ${adminToken}` } });
      assert.equal((await request(admin, 'whoami')).data.gateway, 'AdminGateway');
      admin.close();
    });
  });

  describe('whatever a guard throws or returns', () => {
    const cases: Array<[mode: string, status: number, reason: string]> = [
      ['throw-string', 500, 'internal_error'],
      ['throw-null', 500, 'internal_error'],
      ['throw-status-200', 500, 'internal_error'],
      ['http-302', 500, 'internal_error'],
      ['http-101', 500, 'internal_error'],
      ['http-200', 500, 'internal_error'],
      ['http-400', 400, 'malformed_request'],
      ['ws-exception', 403, 'forbidden'],
      ['zero', 403, 'forbidden'],
      ['promise-undefined', 403, 'forbidden'],
      ['promise-reject-string', 500, 'internal_error'],
      ['observable-error', 500, 'internal_error'],
      ['observable-last-false', 403, 'forbidden'],
      ['observable-empty', 403, 'forbidden'],
      ['promise-of-observable-false', 403, 'forbidden'],
      ['observable-true-never-completes', 503, 'verification_timeout'],
    ];
    for (const [mode, status, reason] of cases) {
      it(`${mode}: ${status} ${reason}, nothing of the credential back or in the log`, async () => {
        const token = signToken({ sub: `odd-${mode}` });
        const response = await rawUpgrade(app.port, upgradeRequest('/odd', [...bearer(token), ['x-mode', mode]]));
        assertRefused(response, status, reason);
        assert.ok(!/location/i.test(response.raw.split('\r\n\r\n')[0]!), 'no redirect');
        assertNotLeaked(app, response.raw, token);
        assert.ok(!connectedTo('OddGateway').includes(`odd-${mode}`));
      });
    }

    // As Nest's GuardsConsumer per message: any truthy answer passes. Kept as the documented rule.
    for (const mode of ['false-string', 'empty-object', 'observable-last-true']) {
      it(`${mode}: admitted, as Nest admits a message`, async () => {
        const token = signToken({ sub: `odd-${mode}` });
        const socket = await openOrFail(app.url('/odd'), { headers: { Authorization: `Bearer ${token}`, 'x-mode': mode } });
        socket.close();
      });
    }
  });

  describe('revocation landing while an async guard decides', () => {
    it('handshake: a subject revoked while the guard waits is refused (401 credential_revoked) when the guard says yes', async () => {
      const token = signToken({ sub: 'gated' });
      const answer = rawUpgrade(app.port, upgradeRequest('/gate', bearer(token)));
      await eventually(() => gates.length === 1, 2000, 'the guard to be asked');
      await app.app.get(WsRevocations).revoke({ subject: 'gated' });
      gates.shift()!(true);
      const response = await answer;
      assertRefused(response, 401, 'credential_revoked');
      assertNotLeaked(app, response.raw, token);
      assert.deepEqual(connectedTo('GateGateway'), []);
    });

    it('in-band: a subject revoked while the guard waits is closed (4401), never told it authenticated', async () => {
      const token = signToken({ sub: 'gated-in-band', roles: ['admin'] });
      const live = await openWitnessed(app.url('/in-band-admin'));
      live.send('authenticate', { token });
      await eventually(() => gates.length === 1, 2000, 'the guard to be asked');
      await app.app.get(WsRevocations).revoke({ subject: 'gated-in-band' });
      gates.shift()!(true);
      const close = await live.closed;
      assert.equal(close.code, 4401);
      assert.deepEqual(live.events('authenticated'), []);
      assert.ok(!live.seen(close).includes(token));
      assert.deepEqual(connectedTo('InBandGateGateway'), []);
    });

    it('in-band: frames sent while the guard decides reach no handler, and the pending socket is bounded by the deadline', async () => {
      const token = signToken({ sub: 'in-band-chatty', roles: ['admin'] });
      const live = await openWitnessed(app.url('/in-band-admin'));
      live.send('authenticate', { token });
      await eventually(() => gates.length === 1, 2000, 'the guard to be asked');
      live.send('whoami');
      await sleep(50);
      assert.deepEqual(live.events('whoami'), [], 'no handler runs before the guards decide');
      gates.shift()!(false);
      const close = await live.closed;
      assert.equal(close.code, 4403);
      assert.deepEqual(live.events('whoami'), []);
    });
  });

  it('a refresh over the socket to a token the connection guard would refuse (another tenant, same subject) closes it (4403)', async () => {
    const acme = signToken({ sub: 'hopper', tenant: 'acme' });
    const globex = signToken({ sub: 'hopper', tenant: 'globex' });
    const socket = await openWitnessed(app.url('/acme'), { headers: { Authorization: `Bearer ${acme}` } });
    assertRefused(await rawUpgrade(app.port, upgradeRequest('/acme', bearer(globex))), 403, 'forbidden');
    await socket.authenticate(globex).catch(() => undefined);
    const outcome = await Promise.race([socket.closed, sleep(500).then(() => undefined)]);
    if (!outcome) {
      const answer = await socket.request('whoami');
      await socket.close();
      assert.fail(`now of a tenant the upgrade refuses, still served: ${answer.text}`);
    }
    assert.equal(outcome.code, 4403);
    for (const token of [acme, globex]) {
      assert.ok(!socket.seen(outcome).includes(token) && !app.logs.text().includes(token), 'no token reaches the client or the log');
    }
  });

  describe('what refused upgrades leave behind', () => {
    it('2000 refusals by roles and 300 by an async guard leave no deadline timer, no session and no pending authentication', async () => {
      const census = new TimerCensus(['deadline.js', 'expiry-scheduler.js', 'in-band-authentication.js']).start();
      try {
        for (let batch = 0; batch < 40; batch++) {
          const responses = await Promise.all(Array.from({ length: 50 }, () => rawUpgrade(app.port, upgradeRequest('/admin', bearer(userToken)))));
          for (const response of responses) assert.equal(response.status, 403);
        }
        for (let batch = 0; batch < 6; batch++) {
          const responses = await Promise.all(Array.from({ length: 50 }, () => rawUpgrade(app.port, upgradeRequest('/slow-no', bearer(userToken)))));
          for (const response of responses) assert.equal(response.status, 403);
        }
        assert.equal(await census.settled(), 0, 'no timer outlives a refused upgrade');
        assert.equal(app.app.get(WsConnections).count(), 0);
        assert.ok(!app.logs.text().includes(userToken));
      } finally {
        census.stop();
      }
    });
  });
});

// A user store the test changes while connections are open, as an admin tool would.
const storeRoles = new Map<string, string[]>([['boss', ['admin']]]);

@WebSocketGateway({ path: '/roles-only' })
@Roles('admin')
class RolesOnlyGateway extends CountedGateway {}

@Module({
  imports: [
    WsAuthModule.forRoot({
      jwt: { secret: TEST_SECRET },
      validate: (claims) => (storeRoles.has(String(claims.sub)) ? { id: claims.sub } : undefined),
      rolesOf: (user: { id: string }) => storeRoles.get(user.id) ?? [],
    }),
  ],
  providers: [RolesOnlyGateway],
})
class DemotionModule {}

describe('attack: a demoted user on a gateway whose class requires a role', { timeout: 30_000 }, () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(DemotionModule);
  });
  after(() => app.close());

  it('the demoted user may not open the gateway again (403)', async () => {
    storeRoles.set('boss', ['user']);
    try {
      const token = signToken({ sub: 'boss' });
      const response = await rawUpgrade(app.port, upgradeRequest('/roles-only', bearer(token)));
      assertRefused(response, 403, 'forbidden');
      assertNotLeaked(app, response.raw, token);
    } finally {
      storeRoles.set('boss', ['admin']);
    }
  });

  it("after revalidate(), an open socket whose user lost the class's role is closed (4403), not left on the gateway", async () => {
    const token = signToken({ sub: 'boss' });
    const socket = await openWitnessed(app.url('/roles-only'), { headers: { Authorization: `Bearer ${token}` } });
    assert.deepEqual((await socket.request('whoami')).data.roles, ['admin']);
    storeRoles.set('boss', ['user']);
    try {
      await app.app.get(WsConnections).revalidate('boss');
      const outcome = await Promise.race([socket.closed, sleep(1000).then(() => undefined)]);
      if (!outcome) {
        const answer = await socket.request('whoami').catch(() => undefined);
        assert.fail(`the demoted socket is still open on an admin-only gateway and its handlers answer: ${answer?.text}`);
      }
      assert.equal(outcome.code, 4403);
      assert.ok(!socket.seen(outcome).includes(token) && !app.logs.text().includes(token), 'no token reaches the client or the log');
    } finally {
      storeRoles.set('boss', ['admin']);
      await socket.close();
    }
  });

  it("a refresh over the socket to a token whose roles fail the class's @Roles closes it (4403)", async () => {
    // Without rolesOf here the token's roles are the identity's; a refresh may change them.
    @WebSocketGateway({ path: '/claims-admin' })
    @Roles('admin')
    class ClaimsAdminGateway extends CountedGateway {}
    @Module({ imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET } })], providers: [ClaimsAdminGateway] })
    class ClaimsModule {}
    const claimsApp = await startTestApp(ClaimsModule);
    try {
      const admin = signToken({ sub: 'ex-admin', roles: ['admin'] });
      const demoted = signToken({ sub: 'ex-admin', roles: ['user'] });
      const socket = await openWitnessed(claimsApp.url('/claims-admin'), { headers: { Authorization: `Bearer ${admin}` } });
      await socket.authenticate(demoted).catch(() => undefined);
      const outcome = await Promise.race([socket.closed, sleep(500).then(() => undefined)]);
      if (!outcome) {
        const answer = await socket.request('whoami');
        await socket.close();
        assert.fail(`refreshed to roles the gateway refuses, still served: ${answer.text}`);
      }
      assert.equal(outcome.code, 4403);
      for (const token of [admin, demoted]) {
        assert.ok(!socket.seen(outcome).includes(token) && !claimsApp.logs.text().includes(token), 'no token reaches the client or the log');
      }
    } finally {
      await claimsApp.close();
    }
  });
});
