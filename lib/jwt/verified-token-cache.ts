import type { WsJwtClaims } from '../ws-auth-options.interface.js';

export const DEFAULT_VERIFIED_TOKENS = 10_000;
// Tokens are up to jwt.maxTokenLength (8192) characters: 10,000 of those would hold ~80 MB of
// strings. Past this many characters (~8 MB of one-byte strings) the least recently used go too.
export const DEFAULT_VERIFIED_CHARACTERS = 8 * 1024 * 1024;

/** The instants, in epoch ms, between which the verifier admits a token: [notBefore, expiresAt). */
export function validityOf(claims: WsJwtClaims, clockToleranceSeconds: number): { notBefore: number; expiresAt: number } {
  // The same expression as the identity's expiresAt (jwt-identity.ts): a token must not outlive
  // its identity by a rounding error, nor the other way round.
  return {
    notBefore: typeof claims.nbf === 'number' ? (claims.nbf - clockToleranceSeconds) * 1000 : -Infinity,
    expiresAt: typeof claims.exp === 'number' ? (claims.exp + clockToleranceSeconds) * 1000 : Infinity,
  };
}

/**
 * Tokens that passed every check of a verifier, kept as their exact text and nothing else, so a
 * client that reconnects with the same token skips the signature check. A hit decodes the
 * claims again from the token's own payload segment, so no two connections share (and could
 * change) one claims object; the time claims are compared again on every hit (a wall clock can
 * step back) and an entry never outlives its token (`exp` + tolerance). Failures are never stored.
 *
 * Only the text, because what a cache keeps survives the young generation of the garbage
 * collector: under a stream of fresh tokens, most never seen again, entries that also held the
 * payload's text and their validity measured about 10 us more per handshake than no cache at all.
 *
 * Two generations instead of an exact LRU: new and recently hit tokens live in the young Set;
 * when it is full it becomes the old one and the previous old one is dropped whole. Evicting one
 * entry at a time from the front walks past every slot deleted before it, which measured ~26 us
 * per handshake under a stream of fresh tokens; dropping a generation costs nothing per token.
 * Each generation holds half the bounds, so the whole never exceeds them.
 *
 * What a hit returns is claims, nothing more: revocation, the lifetime bound and validate()
 * run after the verifier on every handshake (identity/jwt-identity.ts), hit or not.
 */
export class VerifiedTokenCache {
  private young = new Set<string>();
  private old = new Set<string>();
  private youngCharacters = 0;
  private readonly entriesPerGeneration: number;
  private readonly charactersPerGeneration: number;

  constructor(
    private readonly clockToleranceSeconds: number,
    readonly maxEntries = DEFAULT_VERIFIED_TOKENS,
    readonly maxCharacters = DEFAULT_VERIFIED_CHARACTERS,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a whole number, 0 or more.');
    if (!Number.isSafeInteger(maxCharacters) || maxCharacters < 0) throw new RangeError('maxCharacters must be a whole number, 0 or more.');
    this.entriesPerGeneration = Math.floor(maxEntries / 2);
    this.charactersPerGeneration = Math.floor(maxCharacters / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The claims of a token verified before and still valid at `now`, or undefined. */
  get(token: string, now = Date.now()): WsJwtClaims | undefined {
    if (this.young.has(token)) {
      const claims = claimsIn(token);
      if (this.isValid(claims, now)) return claims;
      this.young.delete(token);
      this.youngCharacters -= token.length;
      return undefined;
    }
    if (!this.old.delete(token)) return undefined;
    const claims = claimsIn(token);
    if (!this.isValid(claims, now)) return undefined;
    // Still in use: it moves to the young generation and outlives the next turnover.
    this.admit(token);
    return claims;
  }

  /** Remembers a compact token the caller has just verified in full, whose claims are `claims`. */
  set(token: string, claims: WsJwtClaims, now = Date.now()): void {
    if (this.entriesPerGeneration === 0 || token.length > this.charactersPerGeneration) return;
    if (!this.isValid(claims, now) || this.young.has(token)) return;
    this.old.delete(token);
    this.admit(token);
  }

  /** Forgets every token: to be called whenever the keys that verified them change. */
  clear(): void {
    this.young = new Set();
    this.old = new Set();
    this.youngCharacters = 0;
  }

  private isValid(claims: WsJwtClaims, now: number): boolean {
    const { notBefore, expiresAt } = validityOf(claims, this.clockToleranceSeconds);
    return now >= notBefore && now < expiresAt;
  }

  private admit(token: string): void {
    if (this.young.size >= this.entriesPerGeneration || this.youngCharacters + token.length > this.charactersPerGeneration) {
      this.old = this.young;
      this.young = new Set();
      this.youngCharacters = 0;
    }
    this.young.add(token);
    this.youngCharacters += token.length;
  }
}

/** The claims of a token this cache admitted: its payload segment passed the verifier's checks. */
function claimsIn(token: string): WsJwtClaims {
  const payload = token.slice(token.indexOf('.') + 1, token.lastIndexOf('.'));
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as WsJwtClaims;
}
