import { Logger, ServiceUnavailableException } from '@nestjs/common';

/** What every sample store needs of the official `redis` client (v4+), besides its own commands. */
export interface SampleRedisClient {
  connect(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const FIRST_CONNECT_WAIT_MS = 2000;

/**
 * The one Redis connection of a sample store (refresh tokens, user roles), opened on first use.
 * The first request waits briefly for it; a Redis that is not there answers 503, and the next
 * request tries again. Commands fail at once while disconnected rather than hold a request
 * for a queue.
 */
export class SampleRedis<Client extends SampleRedisClient> {
  private connecting?: Promise<Client>;
  private client?: Client;

  constructor(
    private readonly url: string,
    /** The store, in log lines: "Refresh-token store". */
    private readonly store: string,
    private readonly logger: Logger,
  ) {}

  ready(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open();
    return this.connecting;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connecting = undefined;
    if (client?.destroy) client.destroy();
    else await client?.disconnect?.().catch(() => undefined);
  }

  private async open(): Promise<Client> {
    const { createClient } = await import('redis');
    const client = createClient({
      url: this.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    }) as unknown as Client;
    // The error's code or name only: a Redis error can echo a command's arguments.
    client.on('error', (error) => this.logger.debug(`${this.store} Redis client: ${(error as NodeJS.ErrnoException).code ?? error.name}`));
    let timer: NodeJS.Timeout | undefined;
    const connected = await Promise.race([
      client.connect().then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(resolve, FIRST_CONNECT_WAIT_MS, false))),
    ]);
    clearTimeout(timer);
    if (!connected) {
      this.connecting = undefined;
      client.destroy?.();
      this.logger.error(`${this.store} unavailable (Redis): no connection`);
      throw new ServiceUnavailableException();
    }
    this.client = client;
    return client;
  }
}
