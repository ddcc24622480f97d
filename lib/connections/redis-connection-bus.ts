import { Logger } from '@nestjs/common';
import {
  disconnectReason,
  WsConnectionBus,
  type WsDisconnectCommand,
  type WsDisconnectListener,
  type WsRevalidateCommand,
  type WsRevalidateListener,
} from './ws-connection-bus.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { createRedisClient, redisErrorName, withRedisDeadline } from '../redis/redis-client.js';

interface RedisPubSubClient {
  connect(): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

export interface RedisConnectionBusOptions {
  url: string;
  channel?: string;
}

type Role = 'publisher' | 'subscriber';

interface Hooks {
  onReady(client: RedisPubSubClient): void;
  onError(): void;
}

const DEFAULT_CHANNEL = 'ws-auth:disconnect';
// Startup and disconnect() wait this long for Redis at most: an outage must neither hang
// the app's bootstrap nor the caller revoking a user.
const CONNECT_WAIT_MS = 2000;
const PUBLISH_WAIT_MS = 2000;

/**
 * Disconnect commands over Redis pub/sub, so `WsConnections.disconnect()` on one instance
 * closes the subject's sockets on all of them. Uses the official `redis` client (optional
 * peer dependency); a subscriber connection cannot publish, hence two connections.
 *
 * Redis being down degrades to "this instance only": the app starts, the subscriber keeps
 * reconnecting in the background, and `publish()` rejects so the caller knows.
 */
export class RedisConnectionBus extends WsConnectionBus {
  private readonly logger = new Logger('WsAuth');
  private readonly channel: string;
  private publisher?: Promise<RedisPubSubClient>;
  private subscriber?: RedisPubSubClient;
  // Roles whose connection is down; one log line when the first goes, one when all are back,
  // never one per reconnection attempt.
  private readonly failing = new Set<Role>();
  private closed = false;
  private revalidateListener?: WsRevalidateListener;

  constructor(private readonly options: RedisConnectionBusOptions) {
    super();
    if (!options?.url) throw new Error('RedisConnectionBus: a url is required.');
    this.channel = options.channel ?? DEFAULT_CHANNEL;
  }

  async publish(command: WsDisconnectCommand): Promise<void> {
    // Only the vocabulary crosses the bus, whatever the caller passed.
    const message = JSON.stringify({ subject: command.subject, reason: disconnectReason(command.reason) });
    try {
      await withRedisDeadline(this.send(message), PUBLISH_WAIT_MS);
    } catch (error) {
      authMetrics.dependencyFailure('connection_bus');
      throw new Error(`RedisConnectionBus: the disconnect was not published (${redisErrorName(error)}).`, { cause: error });
    }
  }

  /**
   * On the disconnect channel, in a shape without `subject`: an instance still running a
   * version that knows only disconnects drops it as malformed instead of closing the
   * subject's sockets.
   */
  override async publishRevalidate(command: WsRevalidateCommand): Promise<void> {
    const message = JSON.stringify({ revalidate: command.subject, origin: command.origin });
    try {
      await withRedisDeadline(this.send(message), PUBLISH_WAIT_MS);
    } catch (error) {
      authMetrics.dependencyFailure('connection_bus');
      throw new Error(`RedisConnectionBus: the re-check was not published (${redisErrorName(error)}).`, { cause: error });
    }
  }

  /** Heard through the subscription `subscribe()` opens: one Redis connection for both. */
  override async subscribeRevalidate(listener: WsRevalidateListener): Promise<void> {
    this.revalidateListener = listener;
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    const deliver = (message: string) => {
      const command = parseCommand(message);
      if (!command) return;
      try {
        if (command.kind === 'disconnect') listener(command.command);
        else this.revalidateListener?.(command.command);
      } catch (error) {
        // Thrown inside the Redis client's reader, it would stop this instance's delivery.
        this.logger.error(`${command.kind === 'disconnect' ? 'Disconnect' : 'Re-check'} command failed: ${redisErrorName(error)}`);
      }
    };
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    let subscribed = false;
    let subscribing = false;
    this.subscriber = await this.open('subscriber', {
      // SUBSCRIBE is sent on each connection until one succeeds; from then on the client
      // resubscribes by itself after every reconnection.
      onReady: (client) => {
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
      onError: () => settle(),
    });
    // Up: startup waits for the subscription, so a disconnect right after it is delivered.
    // Down: startup goes on at the first failed attempt (or after the wait, for a black hole).
    await withRedisDeadline(settled, CONNECT_WAIT_MS).catch(() => undefined);
  }

  onModuleDestroy(): void {
    this.closed = true;
    close(this.subscriber);
    void this.publisher?.then(close, () => undefined);
  }

  private async send(message: string): Promise<void> {
    this.publisher ??= this.openPublisher();
    const client = await this.publisher;
    await client.publish(this.channel, message);
  }

  private async openPublisher(): Promise<RedisPubSubClient> {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const client = await this.open('publisher', { onReady: () => settle(), onError: () => settle() }).catch((error: unknown) => {
      this.publisher = undefined;
      throw error;
    });
    // The first publish waits for the first attempt; later ones fail at once while Redis is down.
    await settled;
    return client;
  }

  /** Creates a client and starts connecting; it reconnects by itself until closed. */
  private async open(role: Role, hooks: Hooks): Promise<RedisPubSubClient> {
    // A publish while Redis is down must fail at once (the caller learns other instances were
    // not told), not wait in a queue and land late or never. The subscriber keeps its queue:
    // its SUBSCRIBE may wait for the connection.
    const client = await createRedisClient<RedisPubSubClient>('RedisConnectionBus', this.options.url, {
      queueWhileOffline: role === 'subscriber',
      connectTimeoutMs: CONNECT_WAIT_MS,
    });
    client.on('error', (error) => {
      this.failed(role, error);
      hooks.onError();
    });
    client.on('ready', () => {
      this.recovered(role);
      hooks.onReady(client);
    });
    // Never settles while Redis is down (the client retries); failures arrive as 'error'.
    client.connect().catch(() => undefined);
    return client;
  }

  private failed(role: Role, error: unknown): void {
    if (this.closed) return;
    authMetrics.dependencyFailure('connection_bus');
    if (this.failing.has(role)) return;
    this.failing.add(role);
    // The error's code or name only: a message may carry the address, the URL its password.
    if (this.failing.size === 1) {
      this.logger.error(`Connection bus unavailable (Redis): ${redisErrorName(error)}; disconnects reach this instance only until it is back`);
    }
  }

  private recovered(role: Role): void {
    if (this.closed || !this.failing.delete(role) || this.failing.size > 0) return;
    this.logger.log('Connection bus reachable again (Redis)');
  }
}

export type BusMessage = { kind: 'disconnect'; command: WsDisconnectCommand } | { kind: 'revalidate'; command: WsRevalidateCommand };

// An instance id is a UUID; anything longer is not one of ours.
const MAX_ORIGIN_LENGTH = 64;

/**
 * @internal Messages on a shared channel are input like any other: malformed ones are
 * dropped, and the reason is mapped onto the vocabulary so no text from the channel reaches a
 * client. A message with a `subject` is a disconnect, as it is for every older instance, so
 * the two versions never read one message two ways.
 */
export function parseCommand(message: string): BusMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { subject, reason, revalidate, origin } = parsed as Record<string, unknown>;
  if (typeof subject === 'string' && subject !== '') return { kind: 'disconnect', command: { subject, reason: disconnectReason(reason) } };
  if (subject !== undefined) return undefined;
  if (typeof revalidate !== 'string' || revalidate === '') return undefined;
  if (typeof origin !== 'string' || origin === '' || origin.length > MAX_ORIGIN_LENGTH) return undefined;
  return { kind: 'revalidate', command: { subject: revalidate, origin } };
}

function close(client: RedisPubSubClient | undefined): void {
  if (client?.destroy) client.destroy();
  else void client?.disconnect?.().catch(() => undefined);
}
