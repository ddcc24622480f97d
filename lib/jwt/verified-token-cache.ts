import type { WsJwtClaims } from '../ws-auth-options.interface.js';

export const DEFAULT_VERIFIED_TOKENS = 10_000;
// Tokens are up to jwt.maxTokenLength (8192) characters: 10,000 of those, with the payloads of
// those that came back, would hold ~140 MB of strings. Past this many characters (~8 MB of
// one-byte strings) the least recently used go too.
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

// Entries are found by a number made from the token's last characters (its signature's, the
// part that differs between any two tokens) and then compared whole. Two tokens with the same
// number take turns in one slot; neither is ever mistaken for the other. A small integer key
// costs a Map no string slice and no string hash.
const KEY_CHARACTERS = 43;

/** @internal The number a token is found by (exported for the tests that make two collide). */
export function keyOf(token: string): number {
  // FNV-1a over the tail, cut to 30 bits: a small integer (a Smi) on every V8 platform.
  let hash = 0x811c9dc5;
  for (let i = Math.max(0, token.length - KEY_CHARACTERS); i < token.length; i += 1) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}

/** A token that came back: its payload's JSON text is kept, so later hits only parse it. */
interface ReusedToken {
  readonly token: string;
  readonly payload: string;
}

/** The token's text alone until it is hit once (most fresh tokens never are). */
type Entry = string | ReusedToken;

const tokenOf = (entry: Entry): string => (typeof entry === 'string' ? entry : entry.token);
const charactersOf = (entry: Entry): number => (typeof entry === 'string' ? entry.length : entry.token.length + entry.payload.length);

/**
 * Tokens that passed every check of a verifier, matched by their exact text, so a client that
 * reconnects with the same token skips the signature check. Every hit parses its own copy of the
 * claims, so no two connections share (and could change) one claims object; the time claims are
 * compared again on every hit (a wall clock can step back) and an entry never outlives its token
 * (`exp` + tolerance). Failures are never stored.
 *
 * What a cache holds survives the garbage collector's young generation, and most tokens are
 * seen once: under a stream of fresh tokens, entries that held every payload's text from the
 * start measured about 10 us more per handshake than no cache at all, and entries of the
 * token's text alone still about 8 us. So a token is kept only from its second full
 * verification (the first notes its key in a fixed table), as its text alone until it is hit;
 * only then is its payload's text kept too (unless the two would not fit a generation's share
 * of the character bound). A client that reconnects pays one more full verification, then
 * hits from the third handshake on, if its key's note has not been overwritten meanwhile (set).
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
  private young = new Map<number, Entry>();
  private old = new Map<number, Entry>();
  // The keys of tokens verified once and not kept, 1 added so that 0 is an empty place.
  private readonly verifiedOnce: Int32Array;
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
    // A place per entry, rounded up to a power of two (64 KB at the default), at most 4 MB.
    this.verifiedOnce = new Int32Array(maxEntries === 0 ? 0 : 2 ** Math.min(20, Math.ceil(Math.log2(maxEntries))));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The claims of a token verified before and still valid at `now`, or undefined. */
  get(token: string, now = Date.now()): WsJwtClaims | undefined {
    const key = keyOf(token);
    let entry = this.young.get(key);
    const young = entry !== undefined;
    if (!young) entry = this.old.get(key);
    if (entry === undefined || tokenOf(entry) !== token) return undefined;
    const payload = typeof entry === 'string' ? payloadIn(token) : entry.payload;
    const claims = JSON.parse(payload) as WsJwtClaims;
    const valid = this.isValid(claims, now);
    if (young && (!valid || typeof entry === 'string')) {
      this.young.delete(key);
      this.youngCharacters -= charactersOf(entry);
    } else if (!young) {
      this.old.delete(key);
    }
    if (!valid) return undefined;
    // Back in use: young again (it outlives the next turnover), with its payload if that fits.
    if (typeof entry !== 'string') {
      if (!young) this.admit(key, entry);
    } else {
      this.admit(key, token.length + payload.length > this.charactersPerGeneration ? token : { token, payload });
    }
    return claims;
  }

  /**
   * Offers a compact token the caller has just verified in full, whose claims are `claims`: it
   * is kept the second time it is offered. The first time only its key is noted, in a fixed
   * table, which costs no allocation; a later token whose key lands on the same place
   * overwrites the note, and a token with the same key is kept at once (it too was verified).
   */
  set(token: string, claims: WsJwtClaims, now = Date.now()): void {
    if (this.entriesPerGeneration === 0 || token.length > this.charactersPerGeneration || !this.isValid(claims, now)) return;
    const key = keyOf(token);
    const young = this.young.get(key);
    if (young !== undefined && tokenOf(young) === token) return;
    if (!this.verifiedBefore(key)) return;
    if (young !== undefined) {
      // Another token with the same key: this one takes the slot.
      this.young.delete(key);
      this.youngCharacters -= charactersOf(young);
    }
    this.old.delete(key);
    this.admit(key, token);
  }

  /** Forgets every token: to be called whenever the keys that verified them change. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngCharacters = 0;
    this.verifiedOnce.fill(0);
  }

  /**
   * Whether a token with this key was offered before (its key still noted): noted now if not.
   * A place holds one key: a newer one overwrites it, and the older token's next verification
   * notes it again.
   */
  private verifiedBefore(key: number): boolean {
    const place = key & (this.verifiedOnce.length - 1);
    if (this.verifiedOnce[place] === key + 1) {
      this.verifiedOnce[place] = 0;
      return true;
    }
    this.verifiedOnce[place] = key + 1;
    return false;
  }

  private isValid(claims: WsJwtClaims, now: number): boolean {
    const { notBefore, expiresAt } = validityOf(claims, this.clockToleranceSeconds);
    return now >= notBefore && now < expiresAt;
  }

  private admit(key: number, entry: Entry): void {
    const characters = charactersOf(entry);
    if (this.young.size >= this.entriesPerGeneration || this.youngCharacters + characters > this.charactersPerGeneration) {
      this.old = this.young;
      this.young = new Map();
      this.youngCharacters = 0;
    }
    this.young.set(key, entry);
    this.youngCharacters += characters;
  }
}

/** The payload's JSON text of a token this cache admitted: it passed the verifier's checks. */
function payloadIn(token: string): string {
  return Buffer.from(token.slice(token.indexOf('.') + 1, token.lastIndexOf('.')), 'base64url').toString('utf8');
}
