import type { WsJwtClaims } from '../ws-auth-options.interface.js';

export const DEFAULT_VERIFIED_TOKENS = 10_000;
// Tokens are up to jwt.maxTokenLength (8192) characters: 10,000 of those would hold ~140 MB of
// strings. Past this many characters (tokens and payloads, ~8 MB of one-byte strings) the
// least recently used go too.
export const DEFAULT_VERIFIED_CHARACTERS = 8 * 1024 * 1024;

// Entries are found by the token's last characters (its signature's, the part that differs
// between any two tokens) and then compared whole: a miss, the usual case under fresh tokens,
// hashes 43 characters instead of the whole token, which the profile showed as the cost of
// every lookup. Two tokens sharing the tail take turns in one slot; neither is ever mistaken
// for the other.
const KEY_CHARACTERS = 43;

function keyOf(token: string): string {
  return token.length > KEY_CHARACTERS ? token.slice(-KEY_CHARACTERS) : token;
}

interface VerifiedToken {
  /** The exact token text: a hit is a whole-token match, never a tail's. */
  readonly token: string;
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
 * Tokens that passed every check of a verifier, matched by the exact token text, so a client
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
    const key = keyOf(token);
    let entry = this.young.get(key);
    if (entry === undefined) {
      entry = this.old.get(key);
      if (entry === undefined || entry.token !== token) return undefined;
      this.old.delete(key);
      if (now < entry.notBefore || now >= entry.expiresAt) return undefined;
      // Still in use: it moves to the young generation and outlives the next turnover.
      this.admit(key, entry);
    } else if (entry.token !== token) {
      return undefined;
    } else if (now < entry.notBefore || now >= entry.expiresAt) {
      this.young.delete(key);
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
    const key = keyOf(token);
    const young = this.young.get(key);
    if (young?.token === token) return;
    if (young !== undefined) {
      // Another token with the same tail: this one takes the slot.
      this.young.delete(key);
      this.youngCharacters -= young.token.length + young.payload.length;
    }
    this.old.delete(key);
    this.admit(key, { token, payload, notBefore, expiresAt });
  }

  /** Forgets every token: to be called whenever the keys that verified them change. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngCharacters = 0;
  }

  private admit(key: string, entry: VerifiedToken): void {
    const length = entry.token.length + entry.payload.length;
    if (this.young.size >= this.entriesPerGeneration || this.youngCharacters + length > this.charactersPerGeneration) {
      this.old = this.young;
      this.young = new Map();
      this.youngCharacters = 0;
    }
    this.young.set(key, entry);
    this.youngCharacters += length;
  }
}
