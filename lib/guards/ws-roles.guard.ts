import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { WS_ROLES_KEY } from '../ws-auth.constants.js';
import { WsAuthException } from '../refusals/ws-auth.exception.js';
import { WsAuthGuard } from './ws-auth.guard.js';

/** Requires an authenticated connection holding one of the `@Roles()` of the handler or class. */
@Injectable()
export class WsRolesGuard extends WsAuthGuard {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'ws') return true;
    const identity = this.requireIdentity(context);
    const required = this.reflector.getAllAndOverride<string[] | undefined>(WS_ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!required || required.length === 0) return true;
    if (required.some((role) => identity.roles.includes(role))) return true;
    throw new WsAuthException('forbidden');
  }
}
