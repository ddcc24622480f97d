import { Injectable, Logger, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { getWsConnectionAttempt } from '../authorization/connection-context.js';
import { WS_ROLES_KEY } from '../ws-auth.constants.js';
import { WsAuthException } from '../refusals/ws-auth.exception.js';
import { WsAuthGuard } from './ws-auth.guard.js';

/**
 * Requires an authenticated connection holding one of the `@Roles()` of the handler or class.
 * A handler's list overrides its class's per message (getAllAndOverride), so it may be
 * narrower or different; but the class's list is also checked at the upgrade (always, by the
 * adapter, and here when declared with `@UseConnectionGuards()`), so a handler's roles can no
 * longer admit someone the class refuses: that user never gets a socket on the gateway.
 */
@Injectable()
export class WsRolesGuard extends WsAuthGuard {
  // Decorator metadata never changes at run time, so it is read once per handler, not per
  // message. Keyed by class too: gateways that inherit one handler may declare other roles.
  private readonly requiredRoles = new WeakMap<object, WeakMap<object, readonly string[]>>();

  private readonly logger = new Logger('WsAuth');

  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'ws') return true;
    const identity = this.requireIdentity(context);
    const gateway = context.getClass();
    // At the upgrade no handler is being called: only the class's own list applies, read as
    // the pair (class, class) so it is cached like a handler's.
    const required = this.rolesOf(gateway, getWsConnectionAttempt(context) ? gateway : context.getHandler());
    if (required.length === 0) return true;
    if (required.some((role) => identity.roles.includes(role))) return true;
    throw new WsAuthException('forbidden');
  }

  private rolesOf(gateway: object, handler: object): readonly string[] {
    let byHandler = this.requiredRoles.get(gateway);
    if (!byHandler) this.requiredRoles.set(gateway, (byHandler = new WeakMap()));
    let roles = byHandler.get(handler);
    if (!roles) {
      const declared = this.reflector.getAllAndOverride<string[] | undefined>(WS_ROLES_KEY, [handler as never, gateway as never]);
      if (!declared) this.warnOfForeignRoles(gateway, handler);
      roles = declared ?? [];
      byHandler.set(handler, roles);
    }
    return roles;
  }

  /**
   * `@Roles` is also what most apps call their own roles decorator. Imported from the wrong
   * place, it writes a key this guard never reads and the handler is open to every
   * authenticated user: say so once per handler rather than let it pass unseen.
   */
  private warnOfForeignRoles(gateway: object, handler: object): void {
    const keys = [...Reflect.getMetadataKeys(handler), ...Reflect.getMetadataKeys(gateway)];
    const foreign = keys.find((key) => typeof key === 'string' && key !== WS_ROLES_KEY && /role/i.test(key));
    if (foreign === undefined) return;
    const name = `${(gateway as { name?: string }).name ?? 'a gateway'}.${(handler as { name?: string }).name ?? 'handler'}`;
    this.logger.warn(
      `${name} carries "${String(foreign)}" metadata, which WsRolesGuard does not read: it requires only the roles of @Roles from nestjs-ws-auth. Any authenticated user passes here.`,
    );
  }
}
