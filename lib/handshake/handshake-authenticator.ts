import type { IncomingMessage } from 'node:http';
import type {
  WsAuthenticated,
  WsAuthenticateFn,
  WsCredentialSource,
  WsValidateFn,
} from '../ws-auth-options.interface.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import type { JwtVerifier } from '../jwt/jwt-verifier.js';
import { readRoles } from '../identity/claim-path.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { hasDuplicateAuthorization, takeCredential, type CredentialNames } from './credential.js';
import { withDeadline } from './deadline.js';
import type { OriginPolicy } from './origin-policy.js';

export interface HandshakeSettings {
  readonly origins: OriginPolicy;
  readonly sources: readonly WsCredentialSource[];
  readonly names: CredentialNames;
  readonly rolesClaim: string;
  readonly verifyTimeoutMs: number;
  readonly verifier?: JwtVerifier;
  readonly validate?: WsValidateFn;
  readonly authenticate?: WsAuthenticateFn;
}

/**
 * The whole decision for one upgrade request, top to bottom: origin, credential, verify,
 * validate, identity. Every failure is thrown as a WsRefusal (or mapped to one by the caller).
 */
export class HandshakeAuthenticator {
  constructor(readonly settings: HandshakeSettings) {}

  async authenticate(request: IncomingMessage, origin: string | undefined): Promise<WsIdentity> {
    // The Origin check comes first so a cross-site page learns nothing about its credential.
    if (!this.settings.origins.permits(origin, request.headers.host)) throw new WsRefusal('origin_not_allowed');
    if (hasDuplicateAuthorization(request)) throw new WsRefusal('ambiguous_credential');
    return withDeadline(this.identify(request), this.settings.verifyTimeoutMs);
  }

  private async identify(request: IncomingMessage): Promise<WsIdentity> {
    const { authenticate, sources, names, verifier, validate, rolesClaim } = this.settings;
    if (authenticate) return identityFromAuthenticated(await authenticate(request));

    const credential = takeCredential(request, sources, names);
    if (!credential) throw new WsRefusal('missing_credential');
    const claims = await verifier!.verify(credential.token);
    const user = validate ? await validate(claims, request) : claims;
    if (user === null || user === undefined) throw new WsRefusal('invalid_credential');
    return {
      user,
      subject: claims.sub,
      roles: readRoles(claims, rolesClaim),
      claims,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
      source: credential.source,
    };
  }
}

function identityFromAuthenticated(result: WsAuthenticated | null | undefined): WsIdentity {
  if (!result || result.user === null || result.user === undefined) throw new WsRefusal('invalid_credential');
  return {
    user: result.user,
    subject: result.subject,
    roles: [...(result.roles ?? [])],
    claims: result.claims ?? {},
    expiresAt: result.expiresAt,
    source: 'custom',
  };
}
