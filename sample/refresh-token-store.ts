/** An access token issued in a session: what logout or a detected theft revokes. */
export interface IssuedAccessToken {
  jti: string;
  /** Epoch ms: the token's `exp`. */
  expiresAt: number;
}

/**
 * One login and every refresh token descended from it. Its id is the access tokens' `sid`
 * claim, so logout (which holds an access token, never the path-limited refresh cookie)
 * finds the session to end.
 */
export interface RefreshFamily {
  id: string;
  subject: string;
  /** Epoch ms, fixed at login: rotation never extends a session. */
  expiresAt: number;
  /** The access tokens issued in this session that may still be valid, oldest first. */
  accessTokens: IssuedAccessToken[];
}

export type RotateOutcome =
  | { kind: 'rotated'; family: RefreshFamily }
  /** An already rotated token came back: the family is ended, the caller revokes what it issued. */
  | { kind: 'reused'; family: RefreshFamily }
  | { kind: 'unknown' };

/**
 * Where refresh-token families live: both the injection token and the contract, like the
 * library's `WsTicketStore`. Tokens are stored as hashes only. `rotate` must be atomic: two
 * requests presenting the same token can never both succeed.
 */
export abstract class RefreshTokenStore {
  abstract create(family: Omit<RefreshFamily, 'accessTokens'>, tokenHash: string, access: IssuedAccessToken): Promise<void>;
  abstract rotate(tokenHash: string, nextHash: string, access: IssuedAccessToken): Promise<RotateOutcome>;
  /** Ends one session (logout); resolves with what it was, if it was live. */
  abstract end(familyId: string): Promise<RefreshFamily | undefined>;
  /** Ends every session of a subject (kick); resolves with what they were. */
  abstract endAllOf(subject: string): Promise<RefreshFamily[]>;
}

// A session holding this many unexpired access tokens is ended rather than refreshed again: a
// record that dropped the oldest would let a thief rotate its first token out of reach of
// logout and reuse detection.
export const MAX_ACCESS_TOKENS_PER_FAMILY = 50;
// Rotated hashes kept for reuse detection; a token older than that is merely unknown (401).
export const MAX_ROTATED_HASHES_PER_FAMILY = 1000;

interface MemoryFamily {
  family: RefreshFamily;
  current: string;
  /** Every hash this family has handed out, so a rotated one is recognised as reuse. */
  hashes: string[];
}

/** One instance: families in this process. Expired ones are swept as new ones are created. */
export class MemoryRefreshTokenStore extends RefreshTokenStore {
  private readonly families = new Map<string, MemoryFamily>();
  private readonly familyOfHash = new Map<string, string>();

  async create(family: Omit<RefreshFamily, 'accessTokens'>, tokenHash: string, access: IssuedAccessToken): Promise<void> {
    this.sweep();
    this.families.set(family.id, { family: { ...family, accessTokens: [access] }, current: tokenHash, hashes: [tokenHash] });
    this.familyOfHash.set(tokenHash, family.id);
  }

  async rotate(tokenHash: string, nextHash: string, access: IssuedAccessToken): Promise<RotateOutcome> {
    const id = this.familyOfHash.get(tokenHash);
    const entry = id === undefined ? undefined : this.families.get(id);
    if (!entry || entry.family.expiresAt <= Date.now()) return { kind: 'unknown' };
    if (entry.current !== tokenHash) return { kind: 'reused', family: this.remove(entry) };
    const now = Date.now();
    entry.family.accessTokens = entry.family.accessTokens.filter((token) => token.expiresAt > now);
    if (entry.family.accessTokens.length >= MAX_ACCESS_TOKENS_PER_FAMILY) return { kind: 'reused', family: this.remove(entry) };
    entry.current = nextHash;
    entry.hashes.push(nextHash);
    if (entry.hashes.length > MAX_ROTATED_HASHES_PER_FAMILY) this.familyOfHash.delete(entry.hashes.shift()!);
    this.familyOfHash.set(nextHash, entry.family.id);
    const accessTokens = entry.family.accessTokens;
    accessTokens.push(access);
    return { kind: 'rotated', family: structuredClone(entry.family) };
  }

  async end(familyId: string): Promise<RefreshFamily | undefined> {
    const entry = this.families.get(familyId);
    return entry && this.remove(entry);
  }

  async endAllOf(subject: string): Promise<RefreshFamily[]> {
    return [...this.families.values()].filter((entry) => entry.family.subject === subject).map((entry) => this.remove(entry));
  }

  private remove(entry: MemoryFamily): RefreshFamily {
    this.families.delete(entry.family.id);
    for (const hash of entry.hashes) this.familyOfHash.delete(hash);
    return entry.family;
  }

  private sweep(): void {
    const now = Date.now();
    for (const entry of this.families.values()) if (entry.family.expiresAt <= now) this.remove(entry);
  }
}
