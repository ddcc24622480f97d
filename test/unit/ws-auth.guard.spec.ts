import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Logger, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { attachIdentity } from '../../lib/identity/identity-store.js';
import { Roles, WsAuthException, WsAuthGuard, WsRolesGuard, type WsIdentity } from '../../lib/index.js';

class Handlers {
  @Roles('admin')
  admin() {}

  open() {}
}

function wsContext(client: object, handler: keyof Handlers = 'open', type = 'ws'): ExecutionContext {
  return {
    getType: () => type,
    switchToWs: () => ({ getClient: () => client, getData: () => undefined, getPattern: () => 'x' }),
    getHandler: () => Handlers.prototype[handler],
    getClass: () => Handlers,
  } as unknown as ExecutionContext;
}

function clientWith(identity: Partial<WsIdentity>, readyState = 1): object {
  const client = { readyState };
  attachIdentity(client, { user: {}, roles: [], claims: {}, source: 'header', ...identity });
  return client;
}

const codeOf = (code: string) => (error: unknown) => error instanceof WsAuthException && (error.getError() as { code: string }).code === code;

describe('WsAuthGuard', () => {
  const guard = new WsAuthGuard();

  it('passes an authenticated, unexpired connection', () => {
    assert.equal(guard.canActivate(wsContext(clientWith({ expiresAt: Date.now() + 10_000 }))), true);
  });

  it('refuses a closing socket even while its identity is still attached', () => {
    for (const readyState of [0, 2, 3]) {
      assert.throws(() => guard.canActivate(wsContext(clientWith({ expiresAt: Date.now() + 10_000 }, readyState))), codeOf('unauthorized'));
    }
  });

  it('refuses a connection without identity as unauthorized', () => {
    assert.throws(() => guard.canActivate(wsContext({})), codeOf('unauthorized'));
  });

  it('refuses an identity whose expiry has passed, even before the socket is closed', () => {
    assert.throws(() => guard.canActivate(wsContext(clientWith({ expiresAt: Date.now() - 1 }))), codeOf('unauthorized'));
  });

  it('leaves HTTP and RPC contexts to their own guards', () => {
    assert.equal(guard.canActivate(wsContext({}, 'open', 'http')), true);
  });
});

// An app's own roles decorator, as most apps write it, under the name ours has.
const AppRoles = (...roles: string[]) => SetMetadata('roles', roles);

class ForeignRoles {
  @AppRoles('admin')
  adminOnly() {}

  @AppRoles('admin')
  again() {}
}

describe('WsRolesGuard', () => {
  const guard = new WsRolesGuard(new Reflector());

  it("warns once per handler that carries roles metadata it does not read (an app's own @Roles)", () => {
    const warnings: string[] = [];
    Logger.overrideLogger({ log() {}, error() {}, debug() {}, verbose() {}, warn: (message: unknown) => void warnings.push(String(message)) });
    try {
      const context = (handler: 'adminOnly' | 'again') =>
        ({
          ...wsContext(clientWith({ roles: ['user'] })),
          getHandler: () => ForeignRoles.prototype[handler],
          getClass: () => ForeignRoles,
        }) as unknown as ExecutionContext;
      // Not enforced (those roles are the app's guard's business), but never silent.
      assert.equal(guard.canActivate(context('adminOnly')), true);
      assert.equal(guard.canActivate(context('adminOnly')), true);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /ForeignRoles\.adminOnly carries "roles" metadata, which WsRolesGuard does not read/);
      guard.canActivate(context('again'));
      assert.equal(warnings.length, 2);
      // Our own @Roles: nothing to warn about.
      guard.canActivate(wsContext(clientWith({ roles: ['admin'] }), 'admin'));
      assert.equal(warnings.length, 2);
    } finally {
      Logger.overrideLogger(false as never);
    }
  });

  it('lets an authenticated connection call a handler without @Roles', () => {
    assert.equal(guard.canActivate(wsContext(clientWith({}), 'open')), true);
  });

  it('requires one of the roles of the handler', () => {
    assert.equal(guard.canActivate(wsContext(clientWith({ roles: ['admin'] }), 'admin')), true);
    assert.throws(() => guard.canActivate(wsContext(clientWith({ roles: ['user'] }), 'admin')), codeOf('forbidden'));
  });

  it('refuses an unauthenticated connection as unauthorized, not forbidden', () => {
    assert.throws(() => guard.canActivate(wsContext({}, 'admin')), codeOf('unauthorized'));
  });
});
