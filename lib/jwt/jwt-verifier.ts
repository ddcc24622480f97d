import type { WsAuthJwtOptions, WsJwtAlgorithm, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { signatureCheck, type SignatureCheck } from './jws-signature.js';
import { createJwtKey } from './jwt-key.js';
import { claimsCheck, type ClaimsCheck } from './registered-claims.js';
import { parsePayload, parseTokenOf, payloadText, tokenRulesOf, type CompactToken, type TokenKind, type TokenRules } from './token-shape.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

/**
 * Verifies a compact JWT against a secret or public key with pinned algorithms; every failure
 * is the same refusal. The header is decoded for the shape rules, the payload only once the
 * signature holds; an HMAC is compared with the signature as sent, and asymmetric signatures are
 * decoded inside their check (jws-signature.ts). A token verified twice before and still valid
 * skips all of it (the cache parses its payload again, nothing more).
 */
export class JwtVerifier {
  private readonly rules: TokenRules;
  private readonly checks: ReadonlyMap<unknown, SignatureCheck>;
  private readonly checkClaims: ClaimsCheck;
  /** Tokens this verifier admitted. Its key never changes, so neither do their signatures. */
  readonly verifiedTokens: VerifiedTokenCache;

  constructor(
    options: WsAuthJwtOptions,
    verifiedTokens?: number,
    private readonly kind: TokenKind = 'access',
  ) {
    const { key, algorithms } = createJwtKey(options);
    this.rules = tokenRulesOf(options);
    this.verifiedTokens = new VerifiedTokenCache(this.rules.clockToleranceSeconds, verifiedTokens);
    // Keyed by the pinned algorithms alone: a header naming any other finds no check.
    this.checks = new Map(algorithms.map((alg: WsJwtAlgorithm) => [alg, signatureCheck(alg, key)]));
    this.checkClaims = claimsCheck(options, this.rules);
  }

  /** Seconds past `exp` a token is still accepted, so the identity it yields must last as long. */
  get clockToleranceSeconds(): number {
    return this.rules.clockToleranceSeconds;
  }

  verify(token: string): WsJwtClaims {
    const now = Date.now();
    const known = this.verifiedTokens.get(token, now);
    if (known !== undefined) return known;
    const claims = this.verifyToken(parseTokenOf(this.kind, token, this.rules.maxTokenLength), now);
    this.verifiedTokens.set(token, claims, now);
    return claims;
  }

  /** The signature and claims of a well-formed token the cache did not answer. */
  private readonly verifyToken = (parsed: CompactToken, now = Date.now()): WsJwtClaims => {
    const check = this.checks.get(parsed.header.alg);
    if (check === undefined || !verifiesSignature(check, parsed.signingInput, parsed.signature)) throw new WsRefusal('invalid_credential');
    return this.checkClaims(parsePayload(payloadText(parsed)), now);
  };
}

/** A malformed key or signature makes node:crypto throw: that is a signature that does not hold. */
export function verifiesSignature(check: SignatureCheck, signingInput: string, signature: string): boolean {
  try {
    return check(signingInput, signature);
  } catch {
    return false;
  }
}
