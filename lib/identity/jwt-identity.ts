import type { IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';
import type { WsJwtClaims, WsValidateFn } from '../ws-auth-options.interface.js';
import { andThen, type MaybePromise } from '../handshake/maybe-promise.js';
import type { TokenVerifier } from '../jwt/token-verifier.js';
import type { RevocationList } from '../revocations/revocation-list.js';
import { errorName } from '../refusals/to-refusal.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { readRoles } from './claim-path.js';
import type { WsIdentity } from './ws-identity.js';

export interface JwtIdentitySettings {
  readonly verifier: TokenVerifier;
  readonly validate?: WsValidateFn;
  readonly rolesClaim: string;
  /**
   * The roles of a connection from what `validate()` returned (a user store's roles) instead of
   * the `rolesClaim`: applied at the handshake, on a refresh and on every re-check.
   */
  readonly rolesOf?: (user: any, claims: WsJwtClaims) => readonly string[];
  /** The verifier's `clockToleranceSeconds`: a token it admits expires for us at `exp` + this. */
  readonly clockToleranceSeconds: number;
  /** Longer-lived tokens are refused: a revocation by subject is kept only this long. */
  readonly maxTokenLifetimeSeconds: number;
  /** Tokens without `iat` are refused: their age, and so their lifetime, cannot be told. */
  readonly requireIssuedAt: boolean;
  readonly revocations: RevocationList;
}

const logger = new Logger('WsAuth');
let lifetimeWarned = false;

/**
 * Verify, check the token is not revoked, then validate: the identity a bearer token stands
 * for, or a refusal (thrown, or a rejected promise when verification or validate() is async).
 */
export function identityFromJwt(
  token: string,
  source: WsIdentity['source'],
  request: IncomingMessage,
  settings: JwtIdentitySettings,
): MaybePromise<WsIdentity> {
  return andThen(settings.verifier.verify(token), (claims) => {
    assertBoundedLifetime(claims, settings);
    return identityFromClaims(claims, source, request, settings);
  });
}

/**
 * The identity verified claims stand for under one gateway's rules: revocation, `validate`,
 * `rolesClaim`. A ticket goes through here too, so it opens a gateway only as its token would.
 */
export function identityFromClaims(
  claims: WsJwtClaims,
  source: WsIdentity['source'],
  request: IncomingMessage,
  { validate, rolesClaim, rolesOf, clockToleranceSeconds, revocations }: JwtIdentitySettings,
  issuedAt: unknown = claims.iat,
): MaybePromise<WsIdentity> {
  // Before validate(): a revoked token costs no user lookup.
  if (revocations.covers(claims.sub, claims.jti, issuedAt)) throw new WsRefusal('credential_revoked');
  const identity = (user: unknown): WsIdentity => {
    // Any falsy answer refuses: `false` or `0` from an app check must never pass as a user.
    if (!user) throw new WsRefusal('invalid_credential');
    // An Observable (Nest's other async type) is truthy whatever it would emit: never a user.
    if (isObservableLike(user)) {
      logger.error('validate() returned an Observable; return the user or a Promise of it (lastValueFrom)');
      throw new WsRefusal('internal_error');
    }
    return {
      user,
      subject: claims.sub,
      roles: rolesOf ? rolesFrom(rolesOf, user, claims) : readRoles(claims, rolesClaim),
      claims,
      // The verifier admitted the token up to `exp` + tolerance; the expiry timer and the
      // guards must end it at that same instant, not before.
      expiresAt: typeof claims.exp === 'number' ? (claims.exp + clockToleranceSeconds) * 1000 : undefined,
      source,
    };
  };
  return validate ? andThen(validate(claims, request), identity) : identity(claims);
}

/**
 * The app's roles, checked: a guard compares roles with `includes`, so a string (`'admin'`
 * would match `'a'`) or an array of other things must never pass as roles. A broken rolesOf
 * is the app's bug, answered as one (500/1011) rather than as a user without roles.
 */
function rolesFrom(rolesOf: NonNullable<JwtIdentitySettings['rolesOf']>, user: unknown, claims: WsJwtClaims): string[] {
  let roles: unknown;
  try {
    roles = rolesOf(user, claims);
  } catch (error) {
    if (error instanceof WsRefusal) throw error;
    logger.error(`rolesOf() threw ${errorName(error)}; refused`);
    throw new WsRefusal('internal_error');
  }
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
    logger.error('rolesOf() must return an array of strings; refused');
    throw new WsRefusal('internal_error');
  }
  return [...roles];
}

export function isObservableLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { subscribe?: unknown }).subscribe === 'function';
}

/**
 * A revocation by subject is forgotten `maxTokenLifetimeSeconds` after it was made, which is
 * safe only if no token it covers outlives it: a token living longer is refused.
 */
function assertBoundedLifetime(claims: WsJwtClaims, { maxTokenLifetimeSeconds, clockToleranceSeconds, requireIssuedAt }: JwtIdentitySettings): void {
  // Without `iat` a token minted before a ban, longer-lived than the ban is kept, could simply
  // wait until the ban is forgotten: only its remaining life could be compared.
  if (requireIssuedAt && typeof claims.iat !== 'number') throw new WsRefusal('invalid_credential');
  if (typeof claims.exp !== 'number') return;
  // An `iat` in the future (a skewed or careless issuer) must not stretch the allowed lifetime.
  const now = Date.now() / 1000;
  const issuedAt = typeof claims.iat === 'number' ? Math.min(claims.iat, now) : now;
  if (claims.exp - issuedAt <= maxTokenLifetimeSeconds + clockToleranceSeconds) return;
  if (!lifetimeWarned) {
    lifetimeWarned = true;
    logger.warn('Refused a token that lives longer than revocation.maxTokenLifetimeSeconds: raise that option or issue shorter-lived tokens.');
  }
  throw new WsRefusal('invalid_credential');
}
