/** Whose ticket an entry is, and how many unredeemed tickets that subject may hold. */
export interface WsTicketOwner {
  readonly subject: string;
  /** A positive integer. */
  readonly max: number;
}

/**
 * Where tickets wait to be redeemed. Both the injection token and the contract, as
 * `ThrottlerStorage` is for @nestjs/throttler: the in-memory store is the default and
 * `RedisTicketStore` is a drop-in replacement for apps with several instances.
 *
 * Keys are hashes of tickets, never tickets; values are opaque strings.
 */
export abstract class WsTicketStore {
  /**
   * Keeps `value` under `key` for `ttlMs`. Throws when it cannot (full, unreachable).
   *
   * With `owner`, the store keeps at most `owner.max` unredeemed, unexpired entries of that
   * subject and drops the subject's oldest to make room: one user minting tickets in bulk
   * evicts only their own, never fills the store for everyone else. A store that cannot cap
   * may ignore `owner`.
   */
  abstract put(key: string, value: string, ttlMs: number, owner?: WsTicketOwner): Promise<void>;

  /**
   * Returns the value and forgets it, atomically: of concurrent takes of one key, exactly
   * one gets the value. Undefined when absent or expired. Throws when unreachable.
   */
  abstract take(key: string): Promise<string | undefined>;
}

/** Throws on a cap that would make every issue fail or never cap: a configuration bug. */
export function assertOwner(owner: WsTicketOwner): void {
  if (!Number.isInteger(owner.max) || owner.max < 1) throw new Error('WsTicketStore: owner.max must be a positive integer.');
}
