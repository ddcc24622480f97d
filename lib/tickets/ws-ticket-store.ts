/**
 * Where tickets wait to be redeemed. Both the injection token and the contract, as
 * `ThrottlerStorage` is for @nestjs/throttler: the in-memory store is the default and
 * `RedisTicketStore` is a drop-in replacement for apps with several instances.
 *
 * Keys are hashes of tickets, never tickets; values are opaque strings.
 */
export abstract class WsTicketStore {
  /** Keeps `value` under `key` for `ttlMs`. Throws when it cannot (full, unreachable). */
  abstract put(key: string, value: string, ttlMs: number): Promise<void>;

  /**
   * Returns the value and forgets it, atomically: of concurrent takes of one key, exactly
   * one gets the value. Undefined when absent or expired. Throws when unreachable.
   */
  abstract take(key: string): Promise<string | undefined>;
}
