import { createVerifier } from 'fast-jwt';
import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { failStartup } from '../startup-checks.js';
import { createJwtKey, keyMaterial } from './jwt-key.js';
import { assertCompactToken, checkedClaims, tokenRulesOf, type TokenRules } from './token-shape.js';
import { validityOf, VerifiedTokenCache } from './verified-token-cache.js';

/**
 * Verifies a compact JWT against a secret or public key with pinned options; every failure is
 * the same refusal. The signature and the registered claims are fast-jwt's to check; the
 * rules no JWT library applies alike (token shape, `crit`, `b64`, finite dates, the instant
 * `exp` ends) are checked here, before and after it, so a change of library changes none.
 */
export class JwtVerifier {
  private readonly verifyToken: (token: string) => unknown;
  private readonly rules: TokenRules;
  /** Tokens this verifier admitted. Its key never changes, so neither do their signatures. */
  readonly verifiedTokens: VerifiedTokenCache;

  constructor(options: WsAuthJwtOptions, verifiedTokens?: number) {
    const { key, algorithms } = createJwtKey(options);
    this.rules = tokenRulesOf(options);
    this.verifiedTokens = new VerifiedTokenCache(this.rules.clockToleranceSeconds, verifiedTokens);
    try {
      this.verifyToken = createVerifier({
        key: keyMaterial(key),
        algorithms,
        // fast-jwt skips a falsy issuer or audience, as jsonwebtoken did.
        allowedIss: options.issuer,
        allowedAud: options.audience,
        // Milliseconds in fast-jwt, seconds in jsonwebtoken and jose.
        clockTolerance: this.rules.clockToleranceSeconds * 1000,
        // fast-jwt checks iss and aud only when the token has them; jsonwebtoken and jose
        // refuse a token without the claim it was told to check.
        requiredClaims: [...(this.rules.requireExpiration ? ['exp'] : []), ...(options.issuer ? ['iss'] : []), ...(options.audience ? ['aud'] : [])],
        // Its cache keys a SHA-2 of the token, stores refusals too (evicting good entries),
        // and is not the one the time claims are compared against: ours is used instead.
        cache: false,
      }) as (token: string) => unknown;
    } catch (error) {
      failStartup(`jwt key or options refused by fast-jwt: ${(error as Error).message}`);
    }
  }

  /** Seconds past `exp` a token is still accepted, so the identity it yields must last as long. */
  get clockToleranceSeconds(): number {
    return this.rules.clockToleranceSeconds;
  }

  verify(token: string): WsJwtClaims {
    const now = Date.now();
    const known = this.verifiedTokens.get(token, now);
    if (known !== undefined) return known;
    assertCompactToken(token, this.rules.maxTokenLength);
    let payload: unknown;
    try {
      payload = this.verifyToken(token);
    } catch {
      throw new WsRefusal('invalid_credential');
    }
    const claims = checkedClaims(payload, this.rules.requireExpiration);
    // fast-jwt admits a token up to and including the millisecond `exp` names; RFC 7519
    // section 4.1.4 says the current time must be before it, as jsonwebtoken and jose hold.
    const { notBefore, expiresAt } = validityOf(claims, this.rules.clockToleranceSeconds);
    if (now < notBefore || now >= expiresAt) throw new WsRefusal('invalid_credential');
    this.verifiedTokens.set(token, payloadText(token), claims, now);
    return claims;
  }
}

function payloadText(token: string): string {
  return Buffer.from(token.slice(token.indexOf('.') + 1, token.lastIndexOf('.')), 'base64url').toString('utf8');
}
