import type { IncomingMessage } from 'node:http';
import type { WsJwtClaims, WsValidateFn } from '../ws-auth-options.interface.js';
import { andThen, type MaybePromise } from '../handshake/maybe-promise.js';
import type { TokenVerifier } from '../jwt/token-verifier.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { readRoles } from './claim-path.js';
import type { WsIdentity } from './ws-identity.js';

export interface JwtIdentitySettings {
  readonly verifier: TokenVerifier;
  readonly validate?: WsValidateFn;
  readonly rolesClaim: string;
}

/**
 * Verify, then validate: the identity a bearer token stands for, or a refusal (thrown, or
 * a rejected promise when verification or validate() is asynchronous).
 */
export function identityFromJwt(
  token: string,
  source: WsIdentity['source'],
  request: IncomingMessage,
  { verifier, validate, rolesClaim }: JwtIdentitySettings,
): MaybePromise<WsIdentity> {
  return andThen(verifier.verify(token), (claims) => {
    if (!validate) return identityOf(claims, claims, source, rolesClaim);
    return andThen(validate(claims, request), (user) => identityOf(user, claims, source, rolesClaim));
  });
}

function identityOf(user: unknown, claims: WsJwtClaims, source: WsIdentity['source'], rolesClaim: string): WsIdentity {
  if (user === null || user === undefined) throw new WsRefusal('invalid_credential');
  return {
    user,
    subject: claims.sub,
    roles: readRoles(claims, rolesClaim),
    claims,
    expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    source,
  };
}
