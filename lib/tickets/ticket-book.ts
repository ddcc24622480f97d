import { createHash, randomBytes } from 'node:crypto';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { WsTicketStore } from './ws-ticket-store.js';

export interface IssuedTicket {
  /** Opaque, single use: 256 random bits as base64url (no `.`, so never mistaken for a JWT). */
  readonly ticket: string;
  /** Whole seconds until the ticket expires. */
  readonly expiresIn: number;
}

const TICKET_BYTES = 32;
const TICKET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

type Snapshot = Omit<WsIdentity, 'source'>;

// The store sees only a hash: a dump of it (or a Redis MONITOR) opens no socket.
function keyOf(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

/** Issues and redeems tickets against a store. */
export class TicketBook {
  constructor(
    private readonly store: WsTicketStore,
    private readonly ttlMs: number,
  ) {}

  /**
   * The ticket carries the identity as it is now (a snapshot, not a live reference) and
   * never outlives the credential it was issued from.
   */
  async issue(identity: WsIdentity): Promise<IssuedTicket> {
    const lifetime = Math.min(this.ttlMs, (identity.expiresAt ?? Infinity) - Date.now());
    if (!(lifetime > 0)) throw new WsRefusal('invalid_credential');
    const ticket = randomBytes(TICKET_BYTES).toString('base64url');
    const snapshot: Snapshot = {
      user: identity.user,
      subject: identity.subject,
      roles: identity.roles,
      claims: identity.claims,
      expiresAt: identity.expiresAt,
    };
    await this.store.put(keyOf(ticket), JSON.stringify(snapshot), lifetime);
    return { ticket, expiresIn: Math.floor(lifetime / 1000) };
  }

  async redeem(ticket: string): Promise<WsIdentity> {
    if (!TICKET_FORMAT.test(ticket)) throw new WsRefusal('invalid_credential');
    const stored = await this.store.take(keyOf(ticket));
    if (stored === undefined) throw new WsRefusal('invalid_credential');
    const snapshot = JSON.parse(stored) as Snapshot;
    if (snapshot.expiresAt !== undefined && snapshot.expiresAt <= Date.now()) throw new WsRefusal('invalid_credential');
    return { ...snapshot, source: 'ticket' };
  }
}
