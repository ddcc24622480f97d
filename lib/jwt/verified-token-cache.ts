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
 * step back), and failures are never stored.
 *
 * Two generations instead of an exact LRU: new and recently hit tokens live in the young Map;
 * when it is full it becomes the old one and the previous old one is dropped whole. Evicting one
 * entry at a time from a Map's front walks past every slot deleted before it, which measured
 * ~26 us per handshake under a stream of fresh tokens; dropping a generation costs nothing per
 * token. Each generation holds half the bounds, so the whole never exceeds them.
 *
 * What a hit returns is claims, nothing more: revocation, the lifetime bound and validate()
 * run after the verifier on every handshake (identity/jwt-identity.ts), hit or not.
 */
export class VerifiedTokenCache {
  private young = new Map<string, VerifiedToken>();
  private old = new Map<string, VerifiedToken>();
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
    let entry = this.young.get(token);
    if (entry === undefined) {
      entry = this.old.get(token);
      if (entry === undefined) return undefined;
      this.old.delete(token);
      if (now < entry.notBefore || now >= entry.expiresAt) return undefined;
      // Still in use: it moves to the young generation and outlives the next turnover.
      this.admit(token, entry);
    } else if (now < entry.notBefore || now >= entry.expiresAt) {
      this.young.delete(token);
      this.youngCharacters -= token.length + entry.payload.length;
      return undefined;
    }
    // Every hit parses its own copy: no two connections share (and could change) one claims object.
    return JSON.parse(entry.payload) as WsJwtClaims;
  }

  /**
   * Remembers a token the caller has just verified in full. `payload` is its decoded payload
   * segment, the text its claims were parsed from.
   */
  set(token: string, payload: string, claims: WsJwtClaims, now = Date.now()): void {
    if (this.entriesPerGeneration === 0 || token.length + payload.length > this.charactersPerGeneration) return;
    const { notBefore, expiresAt } = validityOf(claims, this.clockToleranceSeconds);
    if (now < notBefore || now >= expiresAt) return;
    if (this.young.has(token)) return;
    this.old.delete(token);
    this.admit(token, { payload, notBefore, expiresAt });
  }

  /** Forgets every token: to be called whenever the keys that verified them change. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngCharacters = 0;
  }

  private admit(token: string, entry: VerifiedToken): void {
    const length = token.length + entry.payload.length;
    if (this.young.size >= this.entriesPerGeneration || this.youngCharacters + length > this.charactersPerGeneration) {
      this.old = this.young;
      this.young = new Map();
      this.youngCharacters = 0;
    }
    this.young.set(token, entry);
    this.youngCharacters += length;
  }
}
