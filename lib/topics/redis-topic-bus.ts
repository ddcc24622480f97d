import { Logger } from '@nestjs/common';
import { createRedisClient, redisErrorName, withRedisDeadline } from '../redis/redis-client.js';
import { topicMessageOf, WsTopicBus, type WsTopicListener, type WsTopicMessage } from './ws-topic-bus.js';

interface RedisPubSubClient {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

export interface RedisTopicBusOptions {
  url: string;
  /** Default 'ws-auth:topics'. Instances of one app share it; apps on one Redis do not. */
  channel?: string;
}

type Role = 'publisher' | 'subscriber';

const DEFAULT_CHANNEL = 'ws-auth:topics';
// An outage must neither hang the app's bootstrap nor a publish.
const CONNECT_WAIT_MS = 2000;
const PUBLISH_WAIT_MS = 2000;

/**
 * Topic publications over Redis pub/sub, so `WsTopics.publish()` on one instance reaches the
 * topic's members on all of them. Two connections: a subscriber connection cannot publish.
 *
 * Pub/sub keeps nothing: while this instance's subscriber is disconnected, what the others
 * publish is lost for its members (they get no replay after the reconnection), and a publish
 * while the publisher is down rejects so the caller knows other instances were not reached.
 * An app that cannot lose a message needs a log it can replay (Redis Streams), not this bus.
 */
export class RedisTopicBus extends WsTopicBus {
  private readonly logger = new Logger('WsAuth');
  private readonly channel: string;
  private publisher?: Promise<RedisPubSubClient>;
  private subscriber?: RedisPubSubClient;
  // One log line when the first connection goes, one when all are back, none per retry.
  private readonly failing = new Set<Role>();
  private closed = false;

  constructor(private readonly options: RedisTopicBusOptions) {
    super();
    if (!options?.url) throw new Error('RedisTopicBus: a url is required.');
    this.channel = options.channel ?? DEFAULT_CHANNEL;
  }

  async publish(message: WsTopicMessage): Promise<void> {
    const { origin, topic, event, data } = message;
    const text = JSON.stringify({ origin, topic, event, data });
    try {
      await withRedisDeadline(this.send(text), PUBLISH_WAIT_MS);
    } catch (error) {
      throw new Error(`RedisTopicBus: the message was not published to other instances (${redisErrorName(error)}).`, { cause: error });
    }
  }

  async subscribe(listener: WsTopicListener): Promise<void> {
    const deliver = (text: string) => {
      let message: WsTopicMessage | undefined;
      try {
        message = topicMessageOf(JSON.parse(text));
      } catch {
        return;
      }
      if (!message) return;
      try {
        listener(message);
      } catch (error) {
        // Thrown inside the Redis client's reader, it would stop this instance's delivery.
        this.logger.error(`Topic message delivery failed: ${redisErrorName(error)}`);
      }
    };
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    let subscribed = false;
    let subscribing = false;
    this.subscriber = await this.open(
      'subscriber',
      (client) => {
        // Once subscribed, the client resubscribes by itself after every reconnection.
        if (subscribed || subscribing || this.closed) return;
        subscribing = true;
        client.subscribe(this.channel, deliver).then(
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
      settle,
    );
    // Up: startup waits for the subscription. Down: it goes on at the first failed attempt.
    await withRedisDeadline(settled, CONNECT_WAIT_MS).catch(() => undefined);
  }

  onModuleDestroy(): void {
    this.closed = true;
    close(this.subscriber);
    void this.publisher?.then(close, () => undefined);
  }

  private async send(text: string): Promise<void> {
    this.publisher ??= this.openPublisher();
    const client = await this.publisher;
    await client.publish(this.channel, text);
  }

  private async openPublisher(): Promise<RedisPubSubClient> {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const client = await this.open('publisher', () => settle(), settle).catch((error: unknown) => {
      this.publisher = undefined;
      throw error;
    });
    await settled;
    return client;
  }

  private async open(role: Role, onReady: (client: RedisPubSubClient) => void, onError: () => void): Promise<RedisPubSubClient> {
    // A publish while Redis is down fails at once rather than landing late from a queue; the
    // subscriber keeps its queue, so its SUBSCRIBE may wait for the connection.
    const client = await createRedisClient<RedisPubSubClient>('RedisTopicBus', this.options.url, {
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
    client.connect().catch(() => undefined);
    return client;
  }

  private failed(role: Role, error: unknown): void {
    if (this.closed) return;
    if (this.failing.has(role)) return;
    this.failing.add(role);
    // The error's code or name only: a message may carry the address, the URL its password.
    if (this.failing.size === 1) {
      this.logger.error(`Topic bus unavailable (Redis): ${redisErrorName(error)}; publications reach this instance only until it is back`);
    }
  }

  private recovered(role: Role): void {
    if (this.closed || !this.failing.delete(role) || this.failing.size > 0) return;
    this.logger.log('Topic bus reachable again (Redis)');
  }
}

function close(client: RedisPubSubClient | undefined): void {
  if (client?.destroy) client.destroy();
  else void client?.disconnect?.().catch(() => undefined);
}
