import { Logger } from '@nestjs/common';
import { createRedisClient, redisErrorName, withRedisDeadline } from './redis-client.js';

interface RedisPubSubClient {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

type Role = 'publisher' | 'subscriber';

/** How one pub/sub user of Redis names itself in errors and in its two log lines. */
export interface RedisChannelLabels {
  /** The class, in thrown errors: `RedisTopicBus`. */
  readonly owner: string;
  /** The log line when the first connection goes, given the error's code or name. */
  readonly unavailable: (reason: string) => string;
  /** The log line when all are back. */
  readonly reachable: string;
  /** Counted on every failure (a metric), when the owner has one. */
  readonly onFailure?: () => void;
}

// Startup and a publish wait this long for Redis at most: an outage must neither hang the
// app's bootstrap nor the caller.
const CONNECT_WAIT_MS = 2000;
const PUBLISH_WAIT_MS = 2000;

/**
 * One Redis pub/sub channel, as the connection bus and the topic bus use it: two connections
 * (a subscribed connection cannot publish), each reconnecting by itself until closed.
 *
 * Redis being down degrades to "this instance only": the app starts (startup waits for the
 * subscription at most CONNECT_WAIT_MS), the subscriber keeps reconnecting and resubscribes by
 * itself, and `publish()` rejects at once so the caller knows the others were not reached.
 * Pub/sub keeps nothing: what is published while a subscriber is away is lost for it.
 */
export class RedisChannel {
  private readonly logger = new Logger('WsAuth');
  private publisher?: Promise<RedisPubSubClient>;
  private subscriber?: RedisPubSubClient;
  // One log line when the first connection goes, one when all are back, none per retry.
  private readonly failing = new Set<Role>();
  private closed = false;

  constructor(
    private readonly url: string,
    readonly name: string,
    private readonly labels: RedisChannelLabels,
  ) {}

  /** Rejects (with the owner's name and the error's code, never its message) when not sent in time. */
  async publish(message: string, what: string): Promise<void> {
    try {
      await withRedisDeadline(this.send(message), PUBLISH_WAIT_MS);
    } catch (error) {
      this.labels.onFailure?.();
      throw new Error(`${this.labels.owner}: ${what} was not published (${redisErrorName(error)}).`, { cause: error });
    }
  }

  /**
   * Delivers every message of the channel to `deliver`. A throw from it is logged (the name
   * only), never thrown into the Redis client's reader, where it would stop delivery.
   */
  async subscribe(deliver: (message: string) => void): Promise<void> {
    const safely = (message: string) => {
      try {
        deliver(message);
      } catch (error) {
        this.logger.error(`${this.labels.owner}: a message could not be handled: ${redisErrorName(error)}`);
      }
    };
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    let subscribed = false;
    let subscribing = false;
    this.subscriber = await this.open(
      'subscriber',
      (client) => {
        // SUBSCRIBE is sent on each connection until one succeeds; from then on the client
        // resubscribes by itself after every reconnection.
        if (subscribed || subscribing || this.closed) return;
        subscribing = true;
        client.subscribe(this.name, safely).then(
          () => {
            subscribed = true;
            subscribing = false;
            settle();
          },
          (error: unknown) => {
            subscribing = false;
            this.failed('subscriber', error);
          },
        );
      },
      () => settle(),
    );
    // Up: startup waits for the subscription, so a message right after it is delivered.
    // Down: startup goes on at the first failed attempt (or after the wait, for a black hole).
    await withRedisDeadline(settled, CONNECT_WAIT_MS).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    closeClient(this.subscriber);
    void this.publisher?.then(closeClient, () => undefined);
  }

  private async send(message: string): Promise<void> {
    this.publisher ??= this.openPublisher();
    const client = await this.publisher;
    await client.publish(this.name, message);
  }

  private async openPublisher(): Promise<RedisPubSubClient> {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const client = await this.open('publisher', () => settle(), settle).catch((error: unknown) => {
      this.publisher = undefined;
      throw error;
    });
    // The first publish waits for the first attempt; later ones fail at once while Redis is down.
    await settled;
    return client;
  }

  private async open(role: Role, onReady: (client: RedisPubSubClient) => void, onError: () => void): Promise<RedisPubSubClient> {
    // A publish while Redis is down must fail at once, not land late (or never) from a queue.
    // The subscriber keeps its queue: its SUBSCRIBE may wait for the connection.
    const client = await createRedisClient<RedisPubSubClient>(this.labels.owner, this.url, {
      queueWhileOffline: role === 'subscriber',
      connectTimeoutMs: CONNECT_WAIT_MS,
    });
    client.on('error', (error) => {
      this.failed(role, error);
      onError();
    });
    client.on('ready', () => {
      this.recovered(role);
      onReady(client);
    });
    // Never settles while Redis is down (the client retries); failures arrive as 'error'.
    client.connect().catch(() => undefined);
    return client;
  }

  private failed(role: Role, error: unknown): void {
    if (this.closed) return;
    this.labels.onFailure?.();
    if (this.failing.has(role)) return;
    this.failing.add(role);
    // The error's code or name only: a message may carry the address, the URL its password.
    if (this.failing.size === 1) this.logger.error(this.labels.unavailable(redisErrorName(error)));
  }

  private recovered(role: Role): void {
    if (this.closed || !this.failing.delete(role) || this.failing.size > 0) return;
    this.logger.log(this.labels.reachable);
  }
}

function closeClient(client: RedisPubSubClient | undefined): void {
  if (client?.destroy) client.destroy();
  else void client?.disconnect?.().catch(() => undefined);
}
