import { Logger } from '@nestjs/common';
import { WsConnectionBus, type WsDisconnectCommand, type WsDisconnectListener } from './ws-connection-bus.js';

interface RedisPubSubClient {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  duplicate(): RedisPubSubClient;
  destroy?(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface RedisConnectionBusOptions {
  url: string;
  channel?: string;
}

const DEFAULT_CHANNEL = 'ws-auth:disconnect';

/**
 * Disconnect commands over Redis pub/sub, so `WsConnections.disconnect()` on one instance
 * closes the subject's sockets on all of them. Uses the official `redis` client (optional
 * peer dependency); a subscriber connection cannot publish, hence two connections.
 */
export class RedisConnectionBus extends WsConnectionBus {
  private readonly logger = new Logger('WsAuth');
  private readonly channel: string;
  private publisher?: Promise<RedisPubSubClient>;
  private subscriber?: RedisPubSubClient;

  constructor(private readonly options: RedisConnectionBusOptions) {
    super();
    if (!options?.url) throw new Error('RedisConnectionBus: a url is required.');
    this.channel = options.channel ?? DEFAULT_CHANNEL;
  }

  async publish(command: WsDisconnectCommand): Promise<void> {
    const client = await (this.publisher ??= this.open());
    await client.publish(this.channel, JSON.stringify(command));
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    const publisher = await (this.publisher ??= this.open());
    this.subscriber = publisher.duplicate();
    this.subscriber.on('error', (error) => this.logger.debug(`Redis subscriber: ${error.name}`));
    await this.subscriber.connect();
    await this.subscriber.subscribe(this.channel, (message) => {
      const command = parseCommand(message);
      if (command) listener(command);
    });
  }

  onModuleDestroy(): void {
    this.subscriber?.destroy?.();
    void this.publisher?.then((client) => client.destroy?.(), () => undefined);
  }

  private async open(): Promise<RedisPubSubClient> {
    let redis: { createClient(options: object): RedisPubSubClient };
    try {
      redis = (await import('redis' as string)) as typeof redis;
    } catch {
      throw new Error('RedisConnectionBus: install the "redis" package.');
    }
    const client = redis.createClient({
      url: this.options.url,
      // A publish while Redis is down must fail at once (the caller learns other instances
      // were not told), not wait in an unbounded queue and land late or never.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    });
    client.on('error', (error) => this.logger.debug(`Redis publisher: ${error.name}`));
    await client.connect();
    return client;
  }
}

// Messages on a shared channel are input like any other: malformed ones are dropped.
function parseCommand(message: string): WsDisconnectCommand | undefined {
  try {
    const { subject, reason } = JSON.parse(message) as Partial<WsDisconnectCommand>;
    if (typeof subject === 'string' && typeof reason === 'string') return { subject, reason };
  } catch {
    // fall through
  }
  return undefined;
}
