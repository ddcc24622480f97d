import type { WsJwtClaims } from '../ws-auth-options.interface.js';

export const DEFAULT_VERIFIED_TOKENS = 10_000;
// Tokens are up to jwt.maxTokenLength (8192) characters: 10,000 of those would hold ~140 MB of
// strings. Past this many characters (tokens and payloads, ~8 MB of one-byte strings) the
// least recently used go too.
export const DEFAULT_VERIFIED_CHARACTERS = 8 * 1024 * 1024;

interface VerifiedToken {
  /** The payload's exact JSON text: every hit parses its own copy, so no caller shares claims. */
  readonly payload: string;
  /** Epoch ms from which the token is valid (`nbf` - tolerance), or -Infinity. */
  readonly notBefore: number;
  /** Epoch ms from which it is not (`exp` + tolerance), or Infinity. */
  readonly expiresAt: number;
}

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
 * Tokens that passed every check of a verifier, keyed by the exact token text, so a client
 * that reconnects with the same token skips the signature check. An entry never outlives its
 * token (`exp` + tolerance), the time claims are compared again on every hit (a wall clock can
 * step back), failures are never stored, and the least recently used entry goes first.
 *
 * What a hit returns is claims, nothing more: revocation, the lifetime bound and validate()
 * run after the verifier on every handshake (identity/jwt-identity.ts), hit or not.
 */
export class VerifiedTokenCache {
  // A Map iterates in insertion order; re-inserting on a hit makes its first key the LRU one.
  private readonly entries = new Map<string, VerifiedToken>();
  private characters = 0;

  constructor(
    private readonly clockToleranceSeconds: number,
    readonly maxEntries = DEFAULT_VERIFIED_TOKENS,
    readonly maxCharacters = DEFAULT_VERIFIED_CHARACTERS,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a whole number, 0 or more.');
    if (!Number.isSafeInteger(maxCharacters) || maxCharacters < 0) throw new RangeError('maxCharacters must be a whole number, 0 or more.');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The claims of a token verified before and still valid at `now`, or undefined. */
  get(token: string, now = Date.now()): WsJwtClaims | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (now < entry.notBefore || now >= entry.expiresAt) {
      this.characters -= token.length + entry.payload.length;
      return undefined;
    }
    this.entries.set(token, entry);
    return JSON.parse(entry.payload) as WsJwtClaims;
  }

  /**
   * Remembers a token the caller has just verified in full. `payload` is its decoded payload
   * segment, the text its claims were parsed from.
   */
  set(token: string, payload: string, claims: WsJwtClaims, now = Date.now()): void {
    const length = token.length + payload.length;
    if (this.maxEntries === 0 || length > this.maxCharacters) return;
    const { notBefore, expiresAt } = validityOf(claims, this.clockToleranceSeconds);
    if (now < notBefore || now >= expiresAt) return;
    this.forget(token);
    this.entries.set(token, { payload, notBefore, expiresAt });
    this.characters += length;
    while (this.entries.size > this.maxEntries || this.characters > this.maxCharacters) {
      this.forget(this.entries.keys().next().value as string);
    }
  }

  /** Forgets every token: to be called whenever the keys that verified them change. */
  clear(): void {
    this.entries.clear();
    this.characters = 0;
  }

  private forget(token: string): void {
    const entry = this.entries.get(token);
    if (entry === undefined) return;
    this.entries.delete(token);
    this.characters -= token.length + entry.payload.length;
  }
}
