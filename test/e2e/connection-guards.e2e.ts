import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Injectable, Module, Scope, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { Observable, map, timer } from 'rxjs';
import {
  getWsConnectionAttempt,
  Roles,
  UseConnectionGuards,
  WsAuthEvents,
  WsAuthGuard,
  WsAuthModule,
  WsRolesGuard,
  type WsAuthEvent,
} from '../../lib/index.js';
import { assertNotLeaked, assertRefused } from '../support/handshake-assertions.js';
import { freePort } from '../support/free-port.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { eventually, openWitnessed, sleep } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openOrFail, openSocket, request } from '../support/ws-client.js';
import { connectedTo, CountedGateway } from '../support/counted-gateway.js';

/** What a guard saw, to prove it can tell a connection attempt from a message. */
interface Sighting {
  attempt: boolean;
  tenant?: unknown;
  subject?: string;
  client: unknown;
  handler: string;
  gateway: string;
  data?: unknown;
}
const sightings: Sighting[] = [];

/** A dependency of TenantGuard: the upgrade must use the instance Nest built, with it. */
@Injectable()
class TenantDirectory {
  readonly open = new Set(['acme']);
}

@Injectable()
class TenantGuard implements CanActivate {
  constructor(private readonly directory: TenantDirectory) {}

  canActivate(context: ExecutionContext): boolean {
    const attempt = getWsConnectionAttempt<{ tenant?: string }>(context);
    sightings.push({
      attempt: attempt !== undefined,
      tenant: attempt?.request.headers['x-tenant'],
      subject: attempt?.identity.subject,
      client: context.switchToWs().getClient(),
      handler: context.getHandler().name,
      gateway: context.getClass().name,
      data: context.switchToWs().getData(),
    });
    if (!attempt) return true;
    const tenant = attempt.request.headers['x-tenant'];
    return typeof tenant === 'string' && this.directory.open.has(tenant) && attempt.identity.claims.tenant === tenant;
  }
}

const flag = (context: ExecutionContext, name: string) => getWsConnectionAttempt(context)?.request.headers[name] !== 'no';

@Injectable()
class PromiseGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return flag(context, 'x-promise');
  }
}

@Injectable()
class ObservableGuard implements CanActivate {
  canActivate(context: ExecutionContext): Observable<boolean> {
    return timer(5).pipe(map(() => flag(context, 'x-observable')));
  }
}

/** Fails as an app bug would, with the caller's credential in its message. */
class LeakyLookupError extends Error {
  override name = 'LeakyLookupError';
}

@Injectable()
class BrokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const attempt = getWsConnectionAttempt(context);
    if (attempt) throw new LeakyLookupError(`lookup failed for ${String(attempt.request.headers.authorization)}`);
    return true;
  }
}

let hangingSubscriptions = 0;
let hangingTeardowns = 0;

@Injectable()
class HangingGuard implements CanActivate {
  canActivate(context: ExecutionContext): Promise<boolean> | Observable<boolean> | boolean {
    const attempt = getWsConnectionAttempt(context);
    if (!attempt) return true;
    if (attempt.request.headers['x-hang'] === 'observable') {
      return new Observable<boolean>(() => {
        hangingSubscriptions++;
        return () => hangingTeardowns++;
      });
    }
    return new Promise<boolean>(() => undefined);
  }
}

class FlagBGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return getWsConnectionAttempt(context)?.request.headers['x-b'] !== 'no';
  }
}

@WebSocketGateway({ path: '/admin' })
@Roles('admin')
@UseConnectionGuards(WsRolesGuard)
class AdminGateway extends CountedGateway {}

@WebSocketGateway({ path: '/tenant' })
@UseConnectionGuards(WsAuthGuard, TenantGuard)
class TenantGateway extends CountedGateway {}

@WebSocketGateway({ path: '/async' })
@UseConnectionGuards(PromiseGuard, ObservableGuard)
class AsyncGateway extends CountedGateway {}

@WebSocketGateway({ path: '/broken' })
@UseConnectionGuards(BrokenGuard)
class BrokenGateway extends CountedGateway {}

@WebSocketGateway({ path: '/hangs', wsAuth: { verifyTimeoutMs: 150 } })
@UseConnectionGuards(HangingGuard)
class HangingGateway extends CountedGateway {}

// Two classes on one path share one server: a socket there reaches both classes' handlers.
@WebSocketGateway({ path: '/shared' })
@Roles('a')
class SharedRolesGateway extends CountedGateway {}

// An instance rather than a class: the upgrade runs that very instance.
@WebSocketGateway({ path: '/shared' })
@UseConnectionGuards(new FlagBGuard())
class SharedGuardGateway extends CountedGateway {}

@WebSocketGateway({ path: '/open' })
class OpenGateway extends CountedGateway {}

@WebSocketGateway({ path: '/in-band', wsAuth: { mode: 'in-band' } })
@Roles('admin')
class InBandAdminGateway extends CountedGateway {}

@Module({
  imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET } })],
  providers: [
    TenantDirectory,
    AdminGateway,
    TenantGateway,
    AsyncGateway,
    BrokenGateway,
    HangingGateway,
    SharedRolesGateway,
    SharedGuardGateway,
    OpenGateway,
    InBandAdminGateway,
  ],
})
class ConnectionGuardsModule {}

const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];

describe('connection-level authorization', { timeout: 30_000 }, () => {
  let app: TestApp;
  const events: WsAuthEvent[] = [];
  before(async () => {
    app = await startTestApp(ConnectionGuardsModule);
    app.app.get(WsAuthEvents).events$.subscribe((event) => events.push(event));
  });
  after(() => app.close());

  /** A refused upgrade: the status and reason, nothing of the token back or in the log. */
  async function refusedUpgrade(path: string, token: string, headers: Array<[string, string]> = []): Promise<RawResponse> {
    return rawUpgrade(app.port, upgradeRequest(path, [...bearer(token), ...headers]));
  }

  function assertRefusedCleanly(response: RawResponse, status: number, reason: string, token: string) {
    assertRefused(response, status, reason);
    assertNotLeaked(app, response.raw, token);
  }

  it("refuses a user without the class's @Roles with 403 before a socket exists, and admits one with it", async () => {
    const token = signToken({ sub: 'not-admin', roles: ['user'] });
    const response = await refusedUpgrade('/admin', token);
    assertRefusedCleanly(response, 403, 'forbidden', token);
    assert.deepEqual(JSON.parse(response.body), { error: 'forbidden', reason: 'forbidden' });
    const admin = await openOrFail(app.url('/admin'), { headers: { Authorization: `Bearer ${signToken({ sub: 'admin', roles: ['admin'] })}` } });
    assert.equal((await request(admin, 'whoami')).data.subject, 'admin');
    admin.close();
    assert.deepEqual(connectedTo('AdminGateway'), ['admin'], 'handleConnection never ran for the refused user');
    assert.ok(events.some((event) => event.type === 'connection.refused' && event.gateway === '/admin' && event.reason === 'forbidden'));
  });

  it('enforces class @Roles with no guard declared, on every class sharing the server', async () => {
    const onlyA = signToken({ sub: 'only-a', roles: ['a'] });
    assertRefusedCleanly(await refusedUpgrade('/shared', onlyA, [['x-b', 'no']]), 403, 'forbidden', onlyA);
    const onlyB = signToken({ sub: 'only-b', roles: ['b'] });
    assertRefusedCleanly(await refusedUpgrade('/shared', onlyB), 403, 'forbidden', onlyB);
    const both = await openOrFail(app.url('/shared'), { headers: { Authorization: `Bearer ${signToken({ sub: 'both', roles: ['a'] })}` } });
    assert.equal((await request(both, 'whoami')).data.subject, 'both');
    both.close();
    for (const gateway of ['SharedRolesGateway', 'SharedGuardGateway']) assert.deepEqual(connectedTo(gateway), ['both']);
  });

  it('hands a connection guard the request and the identity at the upgrade, and nothing of the kind per message', async () => {
    sightings.length = 0;
    const stranger = signToken({ sub: 'stranger', tenant: 'acme' });
    assertRefusedCleanly(await refusedUpgrade('/tenant', stranger, [['x-tenant', 'other']]), 403, 'forbidden', stranger);
    const member = await openOrFail(app.url('/tenant'), {
      headers: { Authorization: `Bearer ${signToken({ sub: 'member', tenant: 'acme' })}`, 'x-tenant': 'acme' },
    });
    assert.equal((await request(member, 'whoami')).data.subject, 'member');
    member.close();
    const [refused, admitted, message] = sightings;
    assert.equal(sightings.length, 3);
    assert.deepEqual({ ...refused, client: undefined }, { ...admitted, subject: 'stranger', tenant: 'other', client: undefined });
    assert.equal(admitted?.attempt, true);
    assert.equal(admitted?.tenant, 'acme');
    assert.equal(admitted?.subject, 'member');
    assert.equal(admitted?.gateway, 'TenantGateway');
    assert.equal(admitted?.handler, 'handleConnection');
    assert.ok(Object.isFrozen(admitted?.client), 'no socket exists yet: the client is a frozen placeholder');
    assert.equal(admitted?.data, undefined);
    assert.deepEqual(
      { attempt: message?.attempt, tenant: message?.tenant, subject: message?.subject, handler: message?.handler },
      {
        attempt: false,
        tenant: undefined,
        subject: undefined,
        handler: 'whoami',
      },
    );
    assert.deepEqual(connectedTo('TenantGateway'), ['member']);
  });

  it('waits for a guard that answers with a Promise or an Observable', async () => {
    const token = signToken({ sub: 'async' });
    assertRefusedCleanly(await refusedUpgrade('/async', token, [['x-promise', 'no']]), 403, 'forbidden', token);
    assertRefusedCleanly(await refusedUpgrade('/async', token, [['x-observable', 'no']]), 403, 'forbidden', token);
    const admitted = await openOrFail(app.url('/async'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await request(admitted, 'whoami')).data.subject, 'async');
    admitted.close();
    assert.deepEqual(connectedTo('AsyncGateway'), ['async']);
  });

  it('answers 500 when a guard throws, and logs the error name only', async () => {
    const token = signToken({ sub: 'broken' });
    assertRefusedCleanly(await refusedUpgrade('/broken', token), 500, 'internal_error', token);
    const lines = app.logs.lines.filter((line) => line.includes('LeakyLookupError'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^error Connection guard BrokenGuard of BrokenGateway threw LeakyLookupError/);
    assert.ok(!app.logs.text().includes('lookup failed'), 'the error message never reaches the log');
    assert.deepEqual(connectedTo('BrokenGateway'), []);
  });

  it('answers 503 when a guard outlives verifyTimeoutMs, and lets go of an Observable it gave up on', async () => {
    const token = signToken({ sub: 'hangs' });
    assertRefusedCleanly(await refusedUpgrade('/hangs', token), 503, 'verification_timeout', token);
    assertRefusedCleanly(await refusedUpgrade('/hangs', token, [['x-hang', 'observable']]), 503, 'verification_timeout', token);
    assert.equal(hangingSubscriptions, 1);
    await eventually(() => hangingTeardowns === 1, 2000, 'the hanging Observable being unsubscribed');
    assert.deepEqual(connectedTo('HangingGateway'), []);
  });

  it('leaves a gateway without requirements as it was', async () => {
    const anyone = await openOrFail(app.url('/open'), { headers: { Authorization: `Bearer ${signToken({ sub: 'anyone', roles: [] })}` } });
    assert.equal((await request(anyone, 'whoami')).data.subject, 'anyone');
    anyone.close();
    const outcome = await openSocket(app.url('/open'));
    assert.equal(outcome.kind === 'refused' && outcome.status, 401, 'authentication itself still applies');
  });

  it("closes an in-band socket with 4403 when the class's roles refuse it, before handleConnection", async () => {
    const token = signToken({ sub: 'in-band-user', roles: ['user'] });
    const live = await openWitnessed(app.url('/in-band'));
    live.socket.send(JSON.stringify({ event: 'authenticate', data: { token } }));
    const close = await Promise.race([live.closed, sleep(3000).then(() => ({ code: 0, reason: 'still open after 3 s', at: 0 }))]);
    assert.equal(close.code, 4403);
    assert.deepEqual(live.events('authenticated'), [], 'a refused socket is never told it authenticated');
    assert.ok(!live.seen(close).includes(token));
    assert.ok(!app.logs.text().includes(token));
    const adminToken = signToken({ sub: 'in-band-admin', roles: ['admin'] });
    const admin = await openWitnessed(app.url('/in-band'));
    await admin.authenticate(adminToken);
    assert.equal((await admin.request('whoami', undefined, 'whoami')).data.subject, 'in-band-admin');
    await admin.close();
    assert.deepEqual(connectedTo('InBandAdminGateway'), ['in-band-admin']);
  });
});

describe('gateways on a port of their own', () => {
  let app: TestApp;
  let port: number;
  before(async () => {
    port = await freePort();
    // The same path as AdminGateway's on the app's server, on another port: another server.
    @WebSocketGateway(port, { path: '/admin' })
    class OwnPortOpenGateway extends CountedGateway {}

    @WebSocketGateway(port, { path: '/locked' })
    @Roles('admin')
    class OwnPortLockedGateway extends CountedGateway {}

    @Module({
      imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET } })],
      providers: [AdminGateway, OwnPortOpenGateway, OwnPortLockedGateway],
    })
    class OwnPortModule {}
    app = await startTestApp(OwnPortModule);
  });
  after(() => app.close());

  it("match the classes of a server by port and path: each server has its own classes' requirements", async () => {
    const token = signToken({ sub: 'own-port-user', roles: ['user'] });
    assertRefused(await rawUpgrade(app.port, upgradeRequest('/admin', bearer(token))), 403, 'forbidden');
    assertRefused(await rawUpgrade(port, upgradeRequest('/locked', bearer(token))), 403, 'forbidden');
    const user = await openOrFail(`ws://127.0.0.1:${port}/admin`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await request(user, 'whoami')).data.gateway, 'OwnPortOpenGateway');
    user.close();
    const admin = await openOrFail(`ws://127.0.0.1:${port}/locked`, {
      headers: { Authorization: `Bearer ${signToken({ sub: 'own-admin', roles: ['admin'] })}` },
    });
    assert.equal((await request(admin, 'whoami')).data.gateway, 'OwnPortLockedGateway');
    admin.close();
    assertNotLeaked(app, '', token);
  });
});

describe('a request-scoped connection guard', () => {
  @Injectable({ scope: Scope.REQUEST })
  class ScopedGuard implements CanActivate {
    canActivate(): boolean {
      return true;
    }
  }

  @WebSocketGateway({ path: '/scoped' })
  @UseConnectionGuards(ScopedGuard)
  class ScopedGateway {}

  @Module({ imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET } })], providers: [ScopedGateway] })
  class ScopedModule {}

  it('stops the app at startup, naming the guard', async () => {
    const started = await startTestApp(ScopedModule).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    assert.match(String(started), /connection guard ScopedGuard of ScopedGateway is request-scoped or transient/);
  });
});
