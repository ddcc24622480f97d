import { Logger } from '@nestjs/common';
import { disconnectReason } from '../connections/ws-connection-bus.js';
import { revocationKey, WsRevocationStore, type WsRevocation, type WsRevocationSink, type WsRevocationTarget } from './ws-revocation-store.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { createRedisClient, redisErrorName, withRedisDeadline } from '../redis/redis-client.js';

/** What the store needs of the official `redis` client (v4 to v6 alike). */
interface RedisClient {
  connect(): Promise<unknown>;
  sendCommand<T = unknown>(args: string[]): Promise<T>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  duplicate(): RedisClient;
  on(event: 'error' | 'ready', listener: (error?: Error) => void): unknown;
  destroy?(): void;
  disconnect?(): Promise<void>;
}

export interface RedisRevocationStoreOptions {
  url: string;
  /** Prefix of the keys and channel. Default 'ws-auth:revocations:'. */
  keyPrefix?: string;
  /**
   * How often each instance checks the set's version, so a change whose message was lost
   * (and no later message revealed the gap) is picked up. Default 5000 ms.
   */
  reconcileIntervalMs?: number;
}

const DEFAULT_PREFIX = 'ws-auth:revocations:';
const DEFAULT_RECONCILE_MS = 5000;
const COMMAND_TIMEOUT_MS = 2000;

// One script per change, so the data, its version and the announcement can never disagree:
// store it, drop what expired (a bounded batch), bump the version, publish "<version> <change>".
const ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5], 'LIMIT', 0, 500)
if #dead > 0 then redis.call('HDEL', KEYS[1], unpack(dead)) redis.call('ZREM', KEYS[2], unpack(dead)) end
local version = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[6])
return version`;
const REMOVE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local version = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], version .. ' ' .. ARGV[3])
return version`;
const LOAD = `return { redis.call('GET', KEYS[3]) or '0', redis.call('HGETALL', KEYS[1]) }`;

type Change = { op: 'add'; revocation: WsRevocation } | { op: 'remove'; target: WsRevocationTarget };

/**
 * Revocations shared by every instance through Redis (the optional `redis` peer dependency).
 * They are kept as data with an expiry index, not only published: each instance reads the
 * whole set at startup, applies each change from pub/sub within milliseconds, and reads the
 * whole set again whenever it may have missed one (its subscriber reconnected, a message's
 * version skipped one, or the periodic version check differs). Redis down: changes reject,
 * and every instance keeps enforcing the copy it has.
 */
export class RedisRevocationStore extends WsRevocationStore {
  private readonly logger = new Logger('WsAuth');
  private readonly keys: [string, string, string];
  private readonly channel: string;
  private readonly reconcileMs: number;
  private client?: RedisClient;
  private subscriber?: RedisClient;
  private sink?: WsRevocationSink;
  private version = -1;
  // A message came while the set was being read: read it once more, after a pause.
  private changedWhileReading = false;
  private reloading?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private down = false;
  // What this instance last knew the set to be: written back if Redis comes back without it.
  private readonly held = new Map<string, WsRevocation>();

  constructor(private readonly options: RedisRevocationStoreOptions) {
    super();
    if (!options?.url) throw new Error('RedisRevocationStore: a url is required.');
    const prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    this.keys = [`${prefix}entries`, `${prefix}expiry`, `${prefix}version`];
    this.channel = `${prefix}changes`;
    this.reconcileMs = options.reconcileIntervalMs ?? DEFAULT_RECONCILE_MS;
    if (!Number.isFinite(this.reconcileMs) || this.reconcileMs <= 0) throw new Error('RedisRevocationStore: reconcileIntervalMs must be positive.');
  }

  async open(sink: WsRevocationSink): Promise<void> {
    this.sink = sink;
    // Commands fail at once while disconnected instead of queueing; reconnects go on.
    this.client = await createRedisClient<RedisClient>('RedisRevocationStore', this.options.url, { connectTimeoutMs: COMMAND_TIMEOUT_MS });
    this.client.on('error', (error) => this.reportDown(error, 'client'));
    this.subscriber = this.client.duplicate();
    this.subscriber.on('error', (error) => this.reportDown(error));
    // A reconnected subscriber may have missed messages while it was away.
    this.subscriber.on('ready', () => void this.reload().catch(() => undefined));
    // Either connection may come back last after an outage: each return reads the set again.
    this.client.on('ready', () => void this.reload().catch(() => undefined));
    this.timer = setInterval(() => void this.reconcile(), this.reconcileMs);
    this.timer.unref();
    void this.subscriber.connect().then(
      () => this.subscriber!.subscribe(this.channel, (message) => this.receive(message)),
      () => undefined,
    );
    // The first read needs the connection; it waits for it, briefly.
    await withRedisDeadline(this.client.connect(), COMMAND_TIMEOUT_MS).catch(() => undefined);
    await this.reload();
  }

  async add(revocation: WsRevocation): Promise<void> {
    const field = revocationKey(revocation);
    await this.run(ADD, [
      field,
      JSON.stringify(revocation),
      String(revocation.expiresAt),
      this.channel,
      String(Date.now()),
      JSON.stringify({ op: 'add', revocation }),
    ]);
  }

  async remove(target: WsRevocationTarget): Promise<void> {
    await this.run(REMOVE, [revocationKey(target), this.channel, JSON.stringify({ op: 'remove', target })]);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    for (const client of [this.subscriber, this.client]) {
      if (client?.destroy) client.destroy();
      else void client?.disconnect?.().catch(() => undefined);
    }
  }

  private receive(message: string): void {
    const space = message.indexOf(' ');
    const version = Number(message.slice(0, space));
    const change = parseChange(message.slice(space + 1));
    if (!Number.isSafeInteger(version) || !change) return;
    if (this.reloading) {
      this.changedWhileReading = true;
      return;
    }
    // Already read with the set.
    if (version === this.version) return;
    // A gap means a message was lost, and a lower version that Redis lost its data (a restart
    // without persistence): either way the set is read again rather than trusted.
    if (version !== this.version + 1) return void this.reload().catch(() => undefined);
    this.version = version;
    if (change.op === 'add') {
      this.held.set(revocationKey(change.revocation), change.revocation);
      this.sink?.added(change.revocation);
    } else {
      this.held.delete(revocationKey(change.target));
      this.sink?.removed(change.target);
    }
  }

  private async reconcile(): Promise<void> {
    try {
      const current = Number((await this.command<string | null>(['GET', this.keys[2]])) ?? 0);
      if (current !== this.version) await this.reload();
    } catch {
      // reported by the client's error listener; the copy held is still enforced
    }
  }

  private reload(): Promise<void> {
    if (this.reloading) return this.reloading;
    this.changedWhileReading = false;
    this.reloading = this.readAll().finally(() => {
      this.reloading = undefined;
      // Only a message that arrived meanwhile asks for another read, and never at once: a
      // failing read must not spin (the periodic check and the connections' returns retry).
      if (this.changedWhileReading) setTimeout(() => void this.reload().catch(() => undefined), 100).unref();
    });
    return this.reloading;
  }

  private async readAll(): Promise<void> {
    let [version, flat] = await this.command<[string, string[]]>(['EVAL', LOAD, '3', ...this.keys]);
    let now = Date.now();
    // The version only ever grows: lower than the one held means Redis lost its data (a restart
    // without persistence, a failover to a stale replica). Write back what was known, rather
    // than take the loss as every ban being lifted.
    if (Number(version) < this.version) {
      for (const revocation of this.held.values()) if (revocation.expiresAt > now) await this.add(revocation);
      [version, flat] = await this.command<[string, string[]]>(['EVAL', LOAD, '3', ...this.keys]);
      now = Date.now();
    }
    const revocations: WsRevocation[] = [];
    for (let i = 1; i < flat.length; i += 2) {
      const revocation = parseRevocation(flat[i]);
      if (revocation && revocation.expiresAt > now) revocations.push(revocation);
    }
    this.version = Number(version);
    this.held.clear();
    for (const revocation of revocations) this.held.set(revocationKey(revocation), revocation);
    this.sink?.replaced(revocations);
    if (this.down) {
      this.down = false;
      this.logger.log('Revocations are shared through Redis again.');
    }
  }

  private async run(script: string, args: string[]): Promise<void> {
    try {
      await this.command(['EVAL', script, '3', ...this.keys, ...args]);
    } catch (error) {
      this.reportDown(error);
      throw new Error('RedisRevocationStore: Redis is unavailable; the revocation holds on this instance only.', { cause: error });
    }
  }

  /** A command that fails within COMMAND_TIMEOUT_MS rather than waiting on a dead connection. */
  private command<T>(args: string[]): Promise<T> {
    if (!this.client) return Promise.reject(new Error('not open'));
    return withRedisDeadline(this.client.sendCommand<T>(args), COMMAND_TIMEOUT_MS);
  }

  /** One line when an outage starts, one when it ends; never the URL (it may hold a password). */
  private reportDown(error: unknown, role = 'subscriber'): void {
    authMetrics.dependencyFailure('revocation_store');
    if (this.down) return;
    this.down = true;
    this.logger.error(`Revocation store unavailable (Redis ${role}: ${redisErrorName(error)}): the revocations already known are still enforced.`);
  }
}

// Whatever is read from Redis is input like any other: what is malformed is dropped.
function parseRevocation(text: string | undefined): WsRevocation | undefined {
  try {
    const value = JSON.parse(text ?? '') as Record<string, unknown>;
    const { expiresAt } = value;
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
    const reason = disconnectReason(value.reason);
    if (value.kind === 'jti' && typeof value.jti === 'string' && value.jti) return { kind: 'jti', jti: value.jti, expiresAt, reason };
    if (value.kind === 'subject' && typeof value.subject === 'string' && value.subject && typeof value.cutoff === 'number') {
      return { kind: 'subject', subject: value.subject, cutoff: value.cutoff, expiresAt, reason };
    }
  } catch {
    // fall through
  }
  return undefined;
}

function parseChange(text: string): Change | undefined {
  try {
    const value = JSON.parse(text) as { op?: unknown; revocation?: unknown; target?: { subject?: unknown; jti?: unknown } };
    if (value.op === 'add') {
      const revocation = parseRevocation(JSON.stringify(value.revocation));
      return revocation && { op: 'add', revocation };
    }
    if (value.op === 'remove' && value.target) {
      const { jti, subject } = value.target;
      if (typeof jti === 'string' && jti) return { op: 'remove', target: { jti } };
      if (typeof subject === 'string' && subject) return { op: 'remove', target: { subject } };
    }
  } catch {
    // fall through
  }
  return undefined;
}
