import { issuedAtOf } from '../identity/issued-at.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { WsRevocation, WsRevocationTarget } from './ws-revocation-store.js';

interface SubjectEntry {
  readonly cutoff: number;
  readonly expiresAt: number;
}

// A full sweep of expired entries runs after this many additions at the least, or after as
// many as the list holds: amortised O(1) per addition, and no timer.
const MIN_SWEEP_INTERVAL = 1024;

/**
 * This instance's copy of every live revocation, consulted on each upgrade: two Map lookups,
 * nothing when no revocation exists, never a network round trip. Expired entries are dropped
 * when met and by a sweep amortised over additions, so memory is bounded by what is live.
 */
export class RevocationList {
  private readonly subjects = new Map<string, SubjectEntry>();
  private readonly tokens = new Map<string, number>();
  private addsUntilSweep = MIN_SWEEP_INTERVAL;
  // Until a shared store has been read once, nobody can tell who is banned: fail closed.
  private known = true;

  get size(): number {
    return this.subjects.size + this.tokens.size;
  }

  /**
   * Whether a credential is revoked: its token id is, or its subject was revoked at or after
   * the second it was issued in (`issuedAt`, epoch seconds; unknown counts as before).
   */
  covers(subject: string | undefined, jti: unknown, issuedAt: unknown, now = Date.now()): boolean {
    if (!this.known) throw new WsRefusal('unavailable');
    return this.matches(subject, jti, issuedAt, now);
  }

  /** Whether an established identity's credential is revoked (as far as is known). */
  coversIdentity(identity: WsIdentity, now = Date.now()): boolean {
    return this.matches(identity.subject, identity.claims.jti, issuedAtOf(identity), now);
  }

  /** Refuses an identity settled after asynchronous work, if a revocation came meanwhile. */
  assertNotRevoked(identity: WsIdentity): void {
    if (this.size > 0 && this.coversIdentity(identity)) throw new WsRefusal('credential_revoked');
  }

  /** What `covers` answers from the entries held, whether or not the store was read. */
  matches(subject: string | undefined, jti: unknown, issuedAt: unknown, now = Date.now()): boolean {
    if (this.subjects.size === 0 && this.tokens.size === 0) return false;
    // RFC 7519 says a string, but issuers do sign numbers: 4242 is the id revoke({ jti: '4242' }) names.
    const id = typeof jti === 'number' ? String(jti) : jti;
    if (typeof id === 'string') {
      const expiresAt = this.tokens.get(id);
      if (expiresAt !== undefined) {
        if (expiresAt > now) return true;
        this.tokens.delete(id);
      }
    }
    if (subject === undefined) return false;
    const entry = this.subjects.get(subject);
    if (!entry) return false;
    if (entry.expiresAt <= now) {
      this.subjects.delete(subject);
      return false;
    }
    // The cut-off is a whole second: a fractional iat within it was issued in that second.
    return !(typeof issuedAt === 'number' && Math.floor(issuedAt) > entry.cutoff);
  }

  add(revocation: WsRevocation, now = Date.now()): void {
    if (revocation.expiresAt <= now) return;
    if (revocation.kind === 'jti') {
      this.tokens.set(revocation.jti, Math.max(revocation.expiresAt, this.tokens.get(revocation.jti) ?? 0));
    } else {
      const known = this.subjects.get(revocation.subject);
      // A later revocation moves the cut-off forward and keeps the longer life; never back.
      this.subjects.set(revocation.subject, {
        cutoff: Math.max(revocation.cutoff, known?.cutoff ?? -Infinity),
        expiresAt: Math.max(revocation.expiresAt, known?.expiresAt ?? 0),
      });
    }
    if (--this.addsUntilSweep <= 0) this.sweep(now);
  }

  /** Whether `revocation` adds nothing to what is held: an echo of one applied here, or a repeat. */
  holds(revocation: WsRevocation): boolean {
    if (revocation.kind === 'jti') return (this.tokens.get(revocation.jti) ?? -Infinity) >= revocation.expiresAt;
    const known = this.subjects.get(revocation.subject);
    return known !== undefined && known.cutoff >= revocation.cutoff && known.expiresAt >= revocation.expiresAt;
  }

  remove(target: WsRevocationTarget): boolean {
    return 'jti' in target ? this.tokens.delete(target.jti) : this.subjects.delete(target.subject);
  }

  /** The whole set again, as a store read it: what it lacks is no longer revoked. */
  replace(revocations: readonly WsRevocation[], now = Date.now()): void {
    this.subjects.clear();
    this.tokens.clear();
    for (const revocation of revocations) this.add(revocation, now);
    this.known = true;
  }

  /** The store could not be read at startup: credentials are refused (503) until it is. */
  markUnknown(): void {
    this.known = false;
  }

  list(now = Date.now()): WsRevocation[] {
    this.sweep(now);
    const revocations: WsRevocation[] = [];
    for (const [subject, { cutoff, expiresAt }] of this.subjects) revocations.push({ kind: 'subject', subject, cutoff, expiresAt });
    for (const [jti, expiresAt] of this.tokens) revocations.push({ kind: 'jti', jti, expiresAt });
    return revocations;
  }

  sweep(now = Date.now()): void {
    for (const [subject, entry] of this.subjects) if (entry.expiresAt <= now) this.subjects.delete(subject);
    for (const [jti, expiresAt] of this.tokens) if (expiresAt <= now) this.tokens.delete(jti);
    this.addsUntilSweep = Math.max(MIN_SWEEP_INTERVAL, this.size);
  }
}
