import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { checkedClaims, type TokenRules } from './token-shape.js';
import { validityOf } from './verified-token-cache.js';

/** Claims that pass every check of the configured issuer, audience and time rules, or a refusal. */
export type ClaimsCheck = (payload: unknown, now: number) => WsJwtClaims;

type AudienceMatch = (value: string) => boolean;

/**
 * The registered claims (RFC 7519 section 4.1) as jsonwebtoken held them, for every verifier
 * alike: a configured `iss` or `aud` is required, not only compared when present (fast-jwt
 * skips what a token lacks); `exp` ends validity at its instant, not after it (section 4.1.4);
 * and the dates are finite (checkedClaims).
 */
export function claimsCheck(options: Pick<WsAuthJwtOptions, 'issuer' | 'audience'>, rules: TokenRules): ClaimsCheck {
  const issuers = options.issuer ? [options.issuer].flat() : undefined;
  const audiences = options.audience ? [options.audience].flat().map(audienceMatch) : undefined;
  return (payload, now) => {
    const claims = checkedClaims(payload, rules.requireExpiration);
    if (issuers !== undefined && !(typeof claims.iss === 'string' && issuers.includes(claims.iss))) throw new WsRefusal('invalid_credential');
    if (audiences !== undefined && !hasAudience(claims.aud, audiences)) throw new WsRefusal('invalid_credential');
    const { notBefore, expiresAt } = validityOf(claims, rules.clockToleranceSeconds);
    if (now < notBefore || now >= expiresAt) throw new WsRefusal('invalid_credential');
    return claims;
  };
}

// A copy without the g and y flags: their lastIndex would make one RegExp pass and fail by turns.
function audienceMatch(allowed: string | RegExp): AudienceMatch {
  if (typeof allowed === 'string') return (value) => value === allowed;
  const pattern = new RegExp(allowed.source, allowed.flags.replace(/[gy]/g, ''));
  return (value) => pattern.test(value);
}

/** `aud` is one string or an array of strings (RFC 7519 section 4.1.3), one of which is allowed. */
function hasAudience(aud: unknown, allowed: readonly AudienceMatch[]): boolean {
  const values = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) return false;
  return values.some((value: string) => allowed.some((match) => match(value)));
}
