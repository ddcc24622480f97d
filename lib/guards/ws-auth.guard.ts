import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { getWsConnectionAttempt } from '../authorization/connection-context.js';
import { getWsIdentity } from '../identity/identity-store.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsAuthException } from '../refusals/ws-auth.exception.js';

/**
 * Requires an authenticated, unexpired connection. Only WebSocket contexts are judged, so on
 * Nest 12 the guard can be registered globally next to HTTP guards (Nest 11 never runs global
 * guards for gateways; WsAdapterCheck refuses that setup at startup). Declared with
 * `@UseConnectionGuards()`, it also judges the upgrade, by the identity being admitted.
 */
const OPEN = 1;

@Injectable()
export class WsAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'ws') return true;
    this.requireIdentity(context);
    return true;
  }

  protected getIdentity(context: ExecutionContext): WsIdentity | undefined {
    return getWsConnectionAttempt(context)?.identity ?? getWsIdentity(context.switchToWs().getClient());
  }

  protected requireIdentity(context: ExecutionContext): WsIdentity {
    // A socket closing for whatever reason serves no more requests, even one already queued.
    // At the upgrade no socket exists yet: the attempt's identity is what is judged.
    const attempt = getWsConnectionAttempt(context);
    if (!attempt && (context.switchToWs().getClient() as { readyState?: number }).readyState !== OPEN) throw new WsAuthException('missing_credential');
    const identity = this.getIdentity(context);
    if (!identity) throw new WsAuthException('missing_credential');
    // A socket may outlive its token; a late message must not ride an expired identity.
    if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
      throw new WsAuthException('invalid_credential');
    }
    return identity;
  }
}
