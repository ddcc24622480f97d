import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ForbiddenException, HttpException, Logger, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { WsException } from '@nestjs/websockets';
import { ConnectionContext, connectionHandlerOf, getWsConnectionAttempt } from '../../lib/authorization/connection-context.js';
import { guardRefusal } from '../../lib/authorization/guard-refusal.js';
import { Roles, WsAuthException, WsAuthGuard, WsRefusal, WsRolesGuard, type WsIdentity } from '../../lib/index.js';

@Roles('staff')
class StaffGateway {
  // A handler's roles would admit an auditor per message; at the upgrade only the class's count.
  @Roles('auditor')
  handleConnection() {}
}

class PlainGateway {
  handleDisconnect() {}
}

const request = { headers: { 'x-tenant': 'acme' } } as unknown as IncomingMessage;

function attemptBy(identity: Partial<WsIdentity>, gateway: new () => unknown = StaffGateway): ExecutionContext {
  const full: WsIdentity = { user: {}, roles: [], claims: {}, source: 'header', ...identity };
  return new ConnectionContext({ request, identity: full }, gateway, connectionHandlerOf(gateway));
}

const codeOf = (code: string) => (error: unknown) => error instanceof WsAuthException && (error.getError() as { code: string }).code === code;

describe('the connection attempt context', () => {
  it('is a ws context of the gateway class, with a frozen placeholder client and no data', () => {
    const context = attemptBy({ subject: 's' });
    assert.equal(context.getType(), 'ws');
    assert.equal(context.getClass(), StaffGateway);
    assert.equal(context.getHandler(), StaffGateway.prototype.handleConnection);
    assert.ok(Object.isFrozen(context.switchToWs().getClient()));
    assert.equal(context.switchToWs().getData(), undefined);
    assert.equal(getWsConnectionAttempt(context)?.request, request);
    assert.equal(getWsConnectionAttempt(context)?.identity.subject, 's');
  });

  it('names one fixed handler for a gateway without handleConnection', () => {
    assert.equal(connectionHandlerOf(PlainGateway), connectionHandlerOf(PlainGateway));
    assert.equal(typeof connectionHandlerOf(PlainGateway), 'function');
  });

  it('is undefined for any other context', () => {
    const message = { getType: () => 'ws', switchToWs: () => ({ getClient: () => ({}) }) } as unknown as ExecutionContext;
    assert.equal(getWsConnectionAttempt(message), undefined);
  });
});

describe('WsAuthGuard and WsRolesGuard at the upgrade', () => {
  it('WsAuthGuard judges the identity being admitted, not a socket', () => {
    assert.equal(new WsAuthGuard().canActivate(attemptBy({ expiresAt: Date.now() + 10_000 })), true);
    assert.throws(() => new WsAuthGuard().canActivate(attemptBy({ expiresAt: Date.now() - 1 })), codeOf('unauthorized'));
  });

  it("WsRolesGuard checks the class's roles only", () => {
    const guard = new WsRolesGuard(new Reflector());
    assert.equal(guard.canActivate(attemptBy({ roles: ['staff'] })), true);
    assert.throws(() => guard.canActivate(attemptBy({ roles: ['auditor'] })), codeOf('forbidden'));
    assert.equal(guard.canActivate(attemptBy({ roles: [] }, PlainGateway)), true);
  });
});

describe('what a connection guard throws', () => {
  it('maps refusals and HTTP exceptions to their status, WsException to 403', () => {
    const statusOf = (error: unknown) => guardRefusal(error, 'G', 'Gateway').status;
    assert.equal(statusOf(new WsRefusal('too_many_requests')), 429);
    assert.equal(statusOf(new WsAuthException('missing_credential')), 401);
    assert.equal(statusOf(new WsException('no')), 403);
    assert.equal(statusOf(new ForbiddenException()), 403);
    assert.equal(statusOf(new UnauthorizedException()), 401);
    assert.equal(statusOf(new HttpException('slow down', 429)), 429);
  });

  it('answers anything else with 500 and logs the error name, never its message', (t) => {
    const logged: string[] = [];
    t.mock.method(Logger.prototype, 'error', (message: string) => void logged.push(message));
    const refusal = guardRefusal(new TypeError('token abc.def.ghi'), 'TenantGuard', 'ChatGateway');
    assert.equal(refusal.reason, 'internal_error');
    assert.deepEqual(logged, ['Connection guard TenantGuard of ChatGateway threw TypeError; the connection was refused']);
    assert.equal(guardRefusal(new HttpException('teapot', 418), 'G', 'Gateway').status, 500);
  });
});
