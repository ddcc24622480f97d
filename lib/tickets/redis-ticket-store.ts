import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { assertOwner, WsTicketStore, type WsTicketOwner } from './ws-ticket-store.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { createRedisClient, redisErrorName } from '../redis/redis-client.js';

/** The commands the store needs, as the official `redis` client (v4+) spells them. */
export interface RedisTicketClient {
  set(key: string, value: string, options: { PX: number; NX: true }): Promise<unknown>;
  getDel(key: string): Promise<string | null | undefined>;
  /**
   * A raw command (`EVAL`), for the per-subject cap. Optional: without it tickets are not
   * capped per subject. A Redis Cluster client's `sendCommand` takes other arguments and
   * must not be passed here (the cap's script touches keys in several slots).
   */
  sendCommand?(args: string[]): Promise<unknown>;
}

export type RedisTicketStoreOptions = { client: RedisTicketClient; keyPrefix?: string } | { url: string; keyPrefix?: string };

interface OwnedClient extends RedisTicketClient {
  connect(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const DEFAULT_PREFIX = 'ws-auth:ticket:';
const FIRST_CONNECT_WAIT_MS = 2000;

/**
 * Puts a ticket and caps its subject's unredeemed tickets, atomically (a script runs alone).
 * KEYS[1]: the ticket's key. KEYS[2]: the subject's index, a sorted set of ticket hashes in
 * issue order. ARGV: value, ttl (ms), max, the ticket's hash, the key prefix.
 * Members whose ticket is gone (redeemed, expired) are pruned first, so only live tickets
 * count; then the oldest are deleted until there is room. The index expires with its
 * longest-lived ticket, so a subject that stops issuing leaves nothing behind.
 */
const PUT_CAPPED = `
local members = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, member in ipairs(members) do
  if redis.call('EXISTS', ARGV[5] .. member) == 0 then redis.call('ZREM', KEYS[2], member) end
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3]) + 1
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do redis.call('DEL', ARGV[5] .. member) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[2], (tonumber(last[2]) or 0) + 1, ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

/**
 * Tickets in Redis, for apps with several instances: a ticket issued by one instance
 * opens a socket on any other, once. GETDEL (Redis >= 6.2) makes the take atomic.
 * An unreachable Redis refuses with 503; it never accepts.
 */
export class RedisTicketStore extends WsTicketStore {
  private readonly logger = new Logger('WsAuth');
  private readonly prefix: string;
  private client?: RedisTicketClient;
  private connecting?: Promise<RedisTicketClient>;
  private owned?: OwnedClient;
  private uncappedReported = false;

  constructor(private readonly options: RedisTicketStoreOptions) {
    super();
    this.prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    if ('client' in options) this.client = options.client;
    else if (!options.url) throw new Error('RedisTicketStore: pass a client or a url.');
  }

  async put(key: string, value: string, ttlMs: number, owner?: WsTicketOwner): Promise<void> {
    if (owner) assertOwner(owner);
    const client = await this.ready();
    const px = Math.max(1, Math.ceil(ttlMs));
    const send = client.sendCommand?.bind(client);
    if (owner && send) {
      const args = ['EVAL', PUT_CAPPED, '2', this.prefix + key, this.indexKey(owner.subject), value, String(px), String(owner.max), key, this.prefix];
      await this.guard(() => send(args));
      return;
    }
    if (owner) this.reportUncapped();
    await this.guard(() => client.set(this.prefix + key, value, { PX: px, NX: true }));
  }

  async take(key: string): Promise<string | undefined> {
    const client = await this.ready();
    const value = await this.guard(() => client.getDel(this.prefix + key));
    return value ?? undefined;
  }

  /** Nest calls this on the provider the module built from the options. */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  /** Closes the connection this store opened itself; a client passed in is the app's to close. */
  async close(): Promise<void> {
    const owned = this.owned;
    this.owned = undefined;
    this.client = undefined;
    this.connecting = undefined;
    if (owned?.destroy) owned.destroy();
    else await owned?.disconnect?.().catch(() => undefined);
  }

  // The subject hashed: key names (in MONITOR, SCAN, a dump) carry no user id or email.
  private indexKey(subject: string): string {
    return `${this.prefix}subject:${createHash('sha256').update(subject).digest('base64url')}`;
  }

  private reportUncapped(): void {
    if (this.uncappedReported) return;
    this.uncappedReported = true;
    this.logger.warn('RedisTicketStore: the Redis client has no sendCommand(); tickets are not capped per subject');
  }

  private async guard<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      authMetrics.dependencyFailure('ticket_store');
      this.logger.error(`Ticket store unavailable (Redis): ${redisErrorName(error)}; refusing with 503`);
      throw new WsRefusal('unavailable');
    }
  }

  private ready(): Promise<RedisTicketClient> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<RedisTicketClient> {
    const { url } = this.options as { url: string };
    let client: OwnedClient;
    try {
      // Commands fail at once while disconnected instead of queueing past the handshake
      // deadline; the client reconnects in the background so Redis's return is noticed.
      client = await createRedisClient<OwnedClient>('RedisTicketStore', url);
    } catch (error) {
      this.connecting = undefined;
      throw error;
    }
    client.on('error', (error) => this.logger.debug(`Redis client: ${redisErrorName(error)}`));
    const connected = client.connect().then(
      () => undefined,
      (error) => this.logger.error(`Redis connection failed: ${redisErrorName(error)}`),
    );
    this.owned = client;
    // The first command waits (briefly) for the first connection; later ones fail fast.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([connected, new Promise((resolve) => (timer = setTimeout(resolve, FIRST_CONNECT_WAIT_MS)))]);
    clearTimeout(timer);
    this.client = client;
    return client;
  }
}
