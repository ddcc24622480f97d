import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Roles, WsAuthModule, WsRolesGuard, WsUser } from '../../lib/index.js';
import { websocketsMajorVersion } from '../../lib/adapter/nest-websockets-version.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { nextEvent, openOrFail, openSocket, request } from '../support/ws-client.js';
import { assertNotLeaked } from '../support/handshake-assertions.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

@WebSocketGateway({ path: '/roles' })
@Roles('staff')
class StaffGateway {
  @SubscribeMessage('staff')
  staff(@WsUser('username') username: string) {
    return { event: 'staff', data: username };
  }

  // The handler's list replaces the class's, it does not add to it.
  @Roles('auditor')
  @SubscribeMessage('audit')
  audit() {
    return { event: 'audit', data: 'ok' };
  }
}

@Controller('health')
class HealthController {
  @Get()
  health() {
    return { ok: true };
  }
}

@UseGuards(WsRolesGuard)
@WebSocketGateway({ path: '/local' })
class LocalGuardGateway {
  @Roles('admin')
  @SubscribeMessage('admin')
  admin() {
    return { event: 'admin', data: 'ok' };
  }
}

function rolesModule(rolesClaim: string, globalGuard: boolean) {
  @Module({
    imports: [WsAuthModule.forRoot({ jwt: { secret: TEST_SECRET }, rolesClaim })],
    controllers: [HealthController],
    providers: [LocalGuardGateway, ...(globalGuard ? [StaffGateway, { provide: APP_GUARD, useClass: WsRolesGuard }] : [])],
  })
  class RolesModule {}
  return RolesModule;
}

const nest11 = websocketsMajorVersion() === 11;

async function expectForbidden(socket: import('ws').WebSocket, event: string, code = 'forbidden') {
  const exception = nextEvent(socket, 'exception');
  socket.send(JSON.stringify({ event }));
  assert.equal((await exception).data.code, code);
}

// Nest 11 never runs global guards for gateways; the module refuses to start rather than
// leave them unguarded. Nest 12 runs them.
describe('a global WsRolesGuard on Nest 11', { skip: !nest11 && 'Nest 12 runs global guards for gateways' }, () => {
  it('fails at startup and names @UseGuards as the fix', async () => {
    await assert.rejects(startTestApp(rolesModule('roles', true)), /global guards .* never run for gateways.*@UseGuards\(WsRolesGuard\)/s);
  });
});

describe('roles guard as a global APP_GUARD', { skip: nest11 && 'Nest 11 refuses global guards for gateways (see above)' }, () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(rolesModule('roles', true));
  });
  after(() => app.close());

  it('lets HTTP routes through untouched', async () => {
    const response = await fetch(`http://127.0.0.1:${app.port}/health`);
    assert.equal(response.status, 200);
  });

  it('applies class roles to handlers without their own', async () => {
    const staff = await openOrFail(app.url('/roles'), { headers: { Authorization: `Bearer ${signToken({ roles: ['staff'], username: 'sam' })}` } });
    assert.deepEqual((await request(staff, 'staff')).data, 'sam');
    await expectForbidden(staff, 'audit');
    staff.close();
  });

  // A handler's @Roles still replaces its class's per message, but the class's roles are also
  // checked at the upgrade (issue 17): an auditor without 'staff' never gets a socket here.
  it('lets a handler override its class roles, among users the class admits', async () => {
    const auditor = await openOrFail(app.url('/roles'), { headers: { Authorization: `Bearer ${signToken({ roles: ['staff', 'auditor'] })}` } });
    assert.equal((await request(auditor, 'audit')).data, 'ok');
    auditor.close();
    const token = signToken({ roles: ['auditor'] });
    const outsider = await openSocket(app.url('/roles'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(outsider.kind, 'refused');
    if (outsider.kind === 'refused') {
      assert.equal(outsider.status, 403);
      assert.deepEqual(JSON.parse(outsider.body), { error: 'forbidden', reason: 'forbidden' });
    }
    assertNotLeaked(app, outsider, token);
  });

  it('works with @UseGuards on a gateway class too', async () => {
    const user = await openOrFail(app.url('/local'), { headers: { Authorization: `Bearer ${signToken({ roles: ['user'] })}` } });
    await expectForbidden(user, 'admin');
    user.close();
    const admin = await openOrFail(app.url('/local'), { headers: { Authorization: `Bearer ${signToken({ roles: ['admin'] })}` } });
    assert.equal((await request(admin, 'admin')).data, 'ok');
    admin.close();
  });
});

for (const [rolesClaim, claims] of [
  ['realm_access.roles', { realm_access: { roles: ['admin'] } }],
  ['scope', { scope: 'read admin write' }],
] as const) {
  describe(`roles read from "${rolesClaim}"`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp(rolesModule(rolesClaim, false));
    });
    after(() => app.close());

    it('grants the role found at that path and no other', async () => {
      const admin = await openOrFail(app.url('/local'), { headers: { Authorization: `Bearer ${signToken({ roles: [], ...claims })}` } });
      assert.equal((await request(admin, 'admin')).data, 'ok');
      admin.close();
      const topLevelOnly = await openOrFail(app.url('/local'), { headers: { Authorization: `Bearer ${signToken({ roles: ['admin'] })}` } });
      await expectForbidden(topLevelOnly, 'admin');
      topLevelOnly.close();
    });
  });
}
