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
import { redisErrorName } from '../redis/redis-client.js';
import { RedisChannel } from '../redis/redis-channel.js';

export interface RedisConnectionBusOptions {
  url: string;
  channel?: string;
}

const DEFAULT_CHANNEL = 'ws-auth:disconnect';

/**
 * Disconnect (and re-check) commands over Redis pub/sub, so `WsConnections.disconnect()` on
 * one instance closes the subject's sockets on all of them. Uses the official `redis` client
 * (optional peer dependency).
 *
 * Redis being down degrades to "this instance only": the app starts, the subscriber keeps
 * reconnecting in the background, and `publish()` rejects so the caller knows.
 */
export class RedisConnectionBus extends WsConnectionBus {
  private readonly logger = new Logger('WsAuth');
  private readonly channel: RedisChannel;
  private revalidateListener?: WsRevalidateListener;

  constructor(options: RedisConnectionBusOptions) {
    super();
    if (!options?.url) throw new Error('RedisConnectionBus: a url is required.');
    this.channel = new RedisChannel(options.url, options.channel ?? DEFAULT_CHANNEL, {
      owner: 'RedisConnectionBus',
      unavailable: (reason) => `Connection bus unavailable (Redis): ${reason}; disconnects reach this instance only until it is back`,
      reachable: 'Connection bus reachable again (Redis)',
      onFailure: () => authMetrics.dependencyFailure('connection_bus'),
    });
  }

  async publish(command: WsDisconnectCommand): Promise<void> {
    // Only the vocabulary crosses the bus, whatever the caller passed.
    await this.channel.publish(JSON.stringify({ subject: command.subject, reason: disconnectReason(command.reason) }), 'the disconnect');
  }

  /**
   * On the disconnect channel, in a shape without `subject`: an instance still running a
   * version that knows only disconnects drops it as malformed instead of closing the
   * subject's sockets.
   */
  override async publishRevalidate(command: WsRevalidateCommand): Promise<void> {
    await this.channel.publish(JSON.stringify({ revalidate: command.subject, origin: command.origin }), 'the re-check');
  }

  /** Heard through the subscription `subscribe()` opens: one Redis connection for both. */
  override async subscribeRevalidate(listener: WsRevalidateListener): Promise<void> {
    this.revalidateListener = listener;
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    await this.channel.subscribe((message) => {
      const command = parseCommand(message);
      if (!command) return;
      try {
        if (command.kind === 'disconnect') listener(command.command);
        else this.revalidateListener?.(command.command);
      } catch (error) {
        // Thrown inside the Redis client's reader, it would stop this instance's delivery.
        this.logger.error(`${command.kind === 'disconnect' ? 'Disconnect' : 'Re-check'} command failed: ${redisErrorName(error)}`);
      }
    });
  }

  onModuleDestroy(): void {
    this.channel.close();
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
