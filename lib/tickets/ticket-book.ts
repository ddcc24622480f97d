import { createHash, randomBytes } from 'node:crypto';
import type { WsIdentity } from '../identity/ws-identity.js';
import type { RevocationList } from '../revocations/revocation-list.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { WsTicketStore } from './ws-ticket-store.js';

export interface IssuedTicket {
  /** Opaque, single use: 256 random bits as base64url (no `.`, so never mistaken for a JWT). */
  readonly ticket: string;
  /** Whole seconds until the ticket expires. */
  readonly expiresIn: number;
}

/**
 * What a ticket stands for. `token`: the verified claims of the access token it was traded
 * for; the gateway it opens derives the user from them with its own rules, as it would from
 * the token. `app`: an identity the app established itself, kept as it was given.
 */
export type TicketGrant =
  | { readonly kind: 'token'; readonly claims: Record<string, unknown>; readonly expiresAt?: number }
  | {
      readonly kind: 'app';
      readonly user: unknown;
      readonly subject?: string;
      readonly roles: readonly string[];
      readonly claims: Record<string, unknown>;
      readonly expiresAt?: number;
      /** Epoch seconds: the identity's `iat`, or when the app vouched for it. */
      readonly issuedAt: number;
    };

const TICKET_BYTES = 32;
const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

// The store sees only a hash: a dump of it (or a Redis MONITOR) opens no socket.
function keyOf(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

/** Issues and redeems tickets against a store. */
export class TicketBook {
  constructor(
    private readonly store: WsTicketStore,
    private readonly ttlMs: number,
    private readonly maxPerSubject: number,
    private readonly revocations: RevocationList,
  ) {}

  /** A ticket for the verified claims of an access token (already checked for revocation). */
  issueForClaims(identity: WsIdentity): Promise<IssuedTicket> {
    return this.put({ kind: 'token', claims: { ...identity.claims }, expiresAt: identity.expiresAt }, identity.subject);
  }

  /** A ticket for an identity the app vouches for now: a snapshot, not a live reference. */
  issueForIdentity(identity: WsIdentity): Promise<IssuedTicket> {
    // NaN or Infinity would make a ticket that never expires.
    if (identity.expiresAt !== undefined && !Number.isFinite(identity.expiresAt)) throw new WsRefusal('invalid_credential');
    const { iat } = identity.claims;
    const issuedAt = typeof iat === 'number' ? iat : Math.floor(Date.now() / 1000);
    if (this.revocations.covers(identity.subject, identity.claims.jti, issuedAt)) throw new WsRefusal('credential_revoked');
    return this.put(
      {
        kind: 'app',
        user: identity.user,
        subject: identity.subject,
        roles: [...identity.roles],
        claims: { ...identity.claims },
        expiresAt: identity.expiresAt,
        issuedAt,
      },
      identity.subject,
    );
  }

  /** Takes the ticket (once, whatever happens next) and returns what it was issued for. */
  async redeem(ticket: string): Promise<TicketGrant> {
    if (!TICKET_FORMAT.test(ticket)) throw new WsRefusal('invalid_credential');
    const stored = await this.store.take(keyOf(ticket));
    if (stored === undefined) throw new WsRefusal('invalid_credential');
    const grant = JSON.parse(stored) as TicketGrant;
    if (grant.expiresAt !== undefined && !(grant.expiresAt > Date.now())) throw new WsRefusal('invalid_credential');
    return grant;
  }

  // A ticket never outlives the credential it was issued from.
  private async put(grant: TicketGrant, subject: string | undefined): Promise<IssuedTicket> {
    // The per-subject cap is what keeps one account from filling the store for everyone; a
    // credential without a subject cannot be capped, so it gets no ticket.
    if (subject === undefined || subject === '') throw new WsRefusal('invalid_credential');
    const lifetime = Math.min(this.ttlMs, (grant.expiresAt ?? Infinity) - Date.now());
    if (!(lifetime > 0)) throw new WsRefusal('invalid_credential');
    const ticket = randomBytes(TICKET_BYTES).toString('base64url');
    const owner = subject === undefined ? undefined : { subject, max: this.maxPerSubject };
    await this.store.put(keyOf(ticket), JSON.stringify(grant), lifetime, owner);
    return { ticket, expiresIn: Math.floor(lifetime / 1000) };
  }
}
