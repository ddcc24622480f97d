import { RedisChannel } from '../redis/redis-channel.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { topicMessageOf, WsTopicBus, type WsTopicListener, type WsTopicMessage } from './ws-topic-bus.js';

export interface RedisTopicBusOptions {
  url: string;
  /** Default 'ws-auth:topics'. Instances of one app share it; apps on one Redis do not. */
  channel?: string;
}

const DEFAULT_CHANNEL = 'ws-auth:topics';

/**
 * Topic publications over Redis pub/sub, so `WsTopics.publish()` on one instance reaches the
 * topic's members on all of them.
 *
 * Pub/sub keeps nothing: while this instance's subscriber is disconnected, what the others
 * publish is lost for its members (they get no replay after the reconnection), and a publish
 * while the publisher is down rejects so the caller knows other instances were not reached.
 * An app that cannot lose a message needs a log it can replay (Redis Streams), not this bus.
 */
export class RedisTopicBus extends WsTopicBus {
  private readonly channel: RedisChannel;

  constructor(options: RedisTopicBusOptions) {
    super();
    if (!options?.url) throw new Error('RedisTopicBus: a url is required.');
    this.channel = new RedisChannel(options.url, options.channel ?? DEFAULT_CHANNEL, {
      owner: 'RedisTopicBus',
      unavailable: (reason) => `Topic bus unavailable (Redis): ${reason}; publications reach this instance only until it is back`,
      reachable: 'Topic bus reachable again (Redis)',
      onFailure: () => authMetrics.dependencyFailure('topic_bus'),
    });
  }

  async publish(message: WsTopicMessage): Promise<void> {
    const { origin, topic, event, data } = message;
    await this.channel.publish(JSON.stringify({ origin, topic, event, data }), 'the message to other instances');
  }

  async subscribe(listener: WsTopicListener): Promise<void> {
    await this.channel.subscribe((text) => {
      // Messages on a shared channel are input like any other: malformed ones are dropped.
      let message: WsTopicMessage | undefined;
      try {
        message = topicMessageOf(JSON.parse(text));
      } catch {
        return;
      }
      if (message) listener(message);
    });
  }

  onModuleDestroy(): void {
    this.channel.close();
  }
}
