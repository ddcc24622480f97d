import { Logger } from '@nestjs/common';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { WsTicketStore } from './ws-ticket-store.js';

/** The two commands the store needs, as the official `redis` client (v4+) spells them. */
export interface RedisTicketClient {
  set(key: string, value: string, options: { PX: number; NX: true }): Promise<unknown>;
  getDel(key: string): Promise<string | null | undefined>;
}

export type RedisTicketStoreOptions =
  | { client: RedisTicketClient; keyPrefix?: string }
  | { url: string; keyPrefix?: string };

interface OwnedClient extends RedisTicketClient {
  connect(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const DEFAULT_PREFIX = 'ws-auth:ticket:';
const FIRST_CONNECT_WAIT_MS = 2000;

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

  constructor(private readonly options: RedisTicketStoreOptions) {
    super();
    this.prefix = options.keyPrefix ?? DEFAULT_PREFIX;
    if ('client' in options) this.client = options.client;
    else if (!options.url) throw new Error('RedisTicketStore: pass a client or a url.');
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    const client = await this.ready();
    await this.guard(() => client.set(this.prefix + key, value, { PX: Math.max(1, Math.ceil(ttlMs)), NX: true }));
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

  private async guard<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      this.logger.error(`Ticket store unavailable (Redis): ${describe(error)}; refusing with 503`);
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
    let redis: { createClient(options: object): OwnedClient };
    try {
      // Optional peer dependency: loaded only by apps that choose Redis.
      redis = (await import('redis' as string)) as typeof redis;
    } catch {
      this.connecting = undefined;
      throw new Error('RedisTicketStore: install the "redis" package to use a Redis url.');
    }
    const client = redis.createClient({
      url,
      // Fail commands at once while disconnected instead of queueing them past the
      // handshake deadline; reconnect in the background so Redis's return is noticed.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    });
    client.on('error', (error) => this.logger.debug(`Redis client: ${describe(error)}`));
    const connected = client.connect().then(
      () => undefined,
      (error) => this.logger.error(`Redis connection failed: ${describe(error)}`),
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

function describe(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.name;
  return typeof error;
}
