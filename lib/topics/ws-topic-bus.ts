import { isTopicName } from './topic-patterns.js';

/**
 * One publication on its way to the other instances. `origin` is the publishing instance's id:
 * that instance has already delivered it and drops it when it comes back.
 */
export interface WsTopicMessage {
  readonly origin: string;
  readonly topic: string;
  readonly event: string;
  readonly data: unknown;
}

export type WsTopicListener = (message: WsTopicMessage) => void;

/**
 * Carries topic publications between instances, like WsConnectionBus carries disconnects. The
 * in-process bus is the default; `RedisTopicBus` reaches every instance on one Redis. Delivery
 * is at most once: a bus is a fan-out, not a queue.
 */
export abstract class WsTopicBus {
  abstract publish(message: WsTopicMessage): Promise<void>;
  abstract subscribe(listener: WsTopicListener): Promise<void>;
}

/**
 * This process only. Instances that share one LocalTopicBus object (several apps in one
 * process) reach each other through it.
 */
export class LocalTopicBus extends WsTopicBus {
  private readonly listeners = new Set<WsTopicListener>();

  async publish(message: WsTopicMessage): Promise<void> {
    for (const listener of this.listeners) listener(message);
  }

  async subscribe(listener: WsTopicListener): Promise<void> {
    this.listeners.add(listener);
  }
}

/**
 * A message from a bus, checked: whatever another process (or anyone able to write to the
 * channel) sent is input, and a malformed one is dropped, never half-delivered.
 */
export function topicMessageOf(value: unknown): WsTopicMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { origin, topic, event, data } = value as Record<string, unknown>;
  if (typeof origin !== 'string' || origin === '' || !isTopicName(topic) || typeof event !== 'string' || event === '') return undefined;
  return { origin, topic, event, data };
}
