import type { IncomingMessage } from 'node:http';
import type { WsValidateFn } from '../ws-auth-options.interface.js';
import type { JwtVerifier } from '../jwt/jwt-verifier.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { readRoles } from './claim-path.js';
import type { WsIdentity } from './ws-identity.js';

export interface JwtIdentitySettings {
  readonly verifier: JwtVerifier;
  readonly validate?: WsValidateFn;
  readonly rolesClaim: string;
}

/** Verify, then validate: the identity a bearer token stands for, or a refusal. */
export async function identityFromJwt(
  token: string,
  source: WsIdentity['source'],
  request: IncomingMessage,
  { verifier, validate, rolesClaim }: JwtIdentitySettings,
): Promise<WsIdentity> {
  const claims = await verifier.verify(token);
  const user = validate ? await validate(claims, request) : claims;
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
