import type { WsDisconnectReason } from '../connections/ws-connection-bus.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import type { WsRefusalReason } from '../refusals/ws-refusal.js';

// No event carries a credential (token, ticket, cookie, certificate), and a refusal never
// names a subject: before authentication nobody is known, and a claimed name is unproven.

/** An authenticated connection: at the upgrade, or when an in-band socket authenticated. */
export interface WsConnectionAcceptedEvent {
  readonly type: 'connection.accepted';
  /** The gateway's path (`/chat`), or `:<port><path>` for a gateway on a port of its own. */
  readonly gateway: string;
  readonly subject?: string;
  /** Where the credential came from; `message` for in-band authentication. */
  readonly source: WsIdentity['source'];
  readonly remoteAddress?: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** An upgrade refused with an HTTP status, before any socket existed. */
export interface WsConnectionRefusedEvent {
  readonly type: 'connection.refused';
  readonly gateway: string;
  readonly reason: WsRefusalReason;
  readonly status: number;
  readonly remoteAddress?: string;
  readonly at: number;
}

/**
 * An open socket closed by the server for an auth reason: expiry (`invalid_credential`),
 * revocation (`revoked`), a refused refresh, an in-band socket that did not authenticate.
 */
export interface WsConnectionClosedEvent {
  readonly type: 'connection.closed';
  readonly gateway: string;
  readonly subject?: string;
  readonly code: number;
  readonly reason: WsRefusalReason;
  readonly remoteAddress?: string;
  readonly at: number;
}

/** A refresh over the socket replaced the connection's identity (same subject). */
export interface WsConnectionRefreshedEvent {
  readonly type: 'connection.refreshed';
  readonly gateway: string;
  readonly subject?: string;
  readonly remoteAddress?: string;
  readonly at: number;
}

/** A revocation took effect here: made on this instance (`local`) or learned from the store (`remote`). */
export interface WsCredentialRevokedEvent {
  readonly type: 'credential.revoked';
  readonly kind: 'subject' | 'jti';
  /** For `kind: 'subject'`. */
  readonly subject?: string;
  /** For `kind: 'jti'`. */
  readonly jti?: string;
  readonly reason: WsDisconnectReason;
  readonly origin: 'local' | 'remote';
  readonly at: number;
}

/** What `WsAuthEvents.events$` emits; `type` tells them apart. */
export type WsAuthEvent =
  WsConnectionAcceptedEvent | WsConnectionRefusedEvent | WsConnectionClosedEvent | WsConnectionRefreshedEvent | WsCredentialRevokedEvent;
