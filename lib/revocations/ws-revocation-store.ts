import type { WsDisconnectReason } from '../connections/ws-connection-bus.js';

/**
 * A revoked credential. `subject`: every credential of that subject issued at or before
 * `cutoff` (JWT `iat`, whole epoch seconds; a credential without `iat` counts as issued
 * before). `jti`: the one token with that id. Either is forgotten at `expiresAt` (epoch ms),
 * once no credential it covers can still be valid.
 */
export type WsRevocation =
  | { readonly kind: 'subject'; readonly subject: string; readonly cutoff: number; readonly expiresAt: number; readonly reason?: WsDisconnectReason }
  | { readonly kind: 'jti'; readonly jti: string; readonly expiresAt: number; readonly reason?: WsDisconnectReason };

/** What `WsRevocations.unrevoke()` takes: the subject or the token id of a revocation. */
export type WsRevocationTarget = { readonly subject: string } | { readonly jti: string };

/** One name per revocation target: a store's field, the service's key for unsynced ones. */
export function revocationKey(target: WsRevocationTarget | WsRevocation): string {
  return 'jti' in target && typeof target.jti === 'string' ? `j:${target.jti}` : `s:${(target as { subject: string }).subject}`;
}

/** Where a store delivers revocations: each instance keeps a local copy, fed through this. */
export interface WsRevocationSink {
  /** A revocation made here or on another instance. */
  added(revocation: WsRevocation): void;
  /** A revocation undone (an admin unbans). */
  removed(target: WsRevocationTarget): void;
  /** The whole set, read again (at startup, after a lost connection or a missed message). */
  replaced(revocations: readonly WsRevocation[]): void;
}

/**
 * Where revocations are kept and how they reach every instance. Both the injection token and
 * the contract, like `WsTicketStore`: the default keeps them in this process, and
 * `RedisRevocationStore` shares them. The lookup on the upgrade path never calls a store:
 * it reads the local copy the store feeds.
 */
export abstract class WsRevocationStore {
  /** Called once at startup: delivers every live revocation, then keeps the sink current. */
  abstract open(sink: WsRevocationSink): Promise<void>;
  /** Persists and announces a revocation. Rejects when it could not (the caller must know). */
  abstract add(revocation: WsRevocation): Promise<void>;
  /** Persists and announces an undo. Rejects when it could not. */
  abstract remove(target: WsRevocationTarget): Promise<void>;
}

/** One instance only: the local copy is the whole store. */
export class LocalRevocationStore extends WsRevocationStore {
  async open(): Promise<void> {}
  async add(): Promise<void> {}
  async remove(): Promise<void> {}
}
