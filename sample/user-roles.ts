import { Logger, ServiceUnavailableException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';

/** The roles an admin may give (admin:set-roles); anything else is a bad request. */
export const SAMPLE_ROLES = ['user', 'admin'] as const;
export type SampleRole = (typeof SAMPLE_ROLES)[number];

export function isSampleRole(value: unknown): value is SampleRole {
  return (SAMPLE_ROLES as readonly unknown[]).includes(value);
}

/** What a user keeps when its current roles cannot be read: nothing an admin would have to grant. */
export function leastPrivilege(roles: readonly string[]): string[] {
  return roles.filter((role) => role === 'user');
}

/**
 * The roles an admin set, by user id; a user without an entry keeps the roles it was created
 * with. Every instance must read the same entries: a connection re-checked on instance B
 * after a change made on A gets its roles from B's store.
 */
export abstract class UserRoleStore {
  /** The roles set for the user, undefined when none were; rejects when that is not known. */
  abstract get(userId: string): Promise<SampleRole[] | undefined>;
  abstract set(userId: string, roles: readonly SampleRole[]): Promise<void>;
}

/** One process: the sample without REDIS_URL. */
export class MemoryUserRoleStore extends UserRoleStore {
  private readonly roles = new Map<string, SampleRole[]>();

  async get(userId: string): Promise<SampleRole[] | undefined> {
    const roles = this.roles.get(userId);
    return roles && [...roles];
  }

  async set(userId: string, roles: readonly SampleRole[]): Promise<void> {
    this.roles.set(userId, [...roles]);
  }
}

/** The commands this store uses, as the official `redis` client (v4+) spells them. */
interface RedisRolesClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  connect(): Promise<unknown>;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

const PREFIX = 'sample:roles:';
const FIRST_CONNECT_WAIT_MS = 2000;

/**
 * Role changes in Redis, so every instance's user store sees them (with REDIS_URL). The
 * sample's users are fixed in code; a real app keeps the whole user in its shared database.
 * Every read asks Redis, so a re-check that follows a change made on another instance sees it.
 * While Redis is unreachable, a read answers what this instance last read for that user, and
 * rejects for a user it never read (UsersService then grants least privilege); a change
 * (set) fails. So an outage keeps sockets opening without handing back a role taken away.
 */
export class RedisUserRoleStore extends UserRoleStore implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Sample');
  private connecting?: Promise<RedisRolesClient>;
  private client?: RedisRolesClient;
  // The last answer per user id (null: no change set). Bounded by the number of users.
  private readonly lastRead = new Map<string, SampleRole[] | null>();
  private unavailable = false;

  constructor(private readonly url: string) {
    super();
  }

  onModuleInit(): void {
    // Connected before the first upgrade needs it; a Redis that is not there yet is retried then.
    this.ready().catch(() => undefined);
  }

  async get(userId: string): Promise<SampleRole[] | undefined> {
    let stored: string | null;
    try {
      const client = await this.ready();
      stored = await this.guard(() => client.get(PREFIX + userId));
    } catch (error) {
      const last = this.lastRead.get(userId);
      if (last === undefined) throw error;
      return last === null ? undefined : [...last];
    }
    const roles = rolesFrom(stored);
    this.lastRead.set(userId, roles ?? null);
    return roles;
  }

  async set(userId: string, roles: readonly SampleRole[]): Promise<void> {
    const client = await this.ready();
    await this.guard(() => client.set(PREFIX + userId, JSON.stringify(roles)));
    this.lastRead.set(userId, [...roles]);
  }

  async onModuleDestroy(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connecting = undefined;
    if (client?.destroy) client.destroy();
    else await client?.disconnect?.().catch(() => undefined);
  }

  private async guard<T>(command: () => Promise<T>): Promise<T> {
    try {
      const result = await command();
      if (this.unavailable) this.logger.log('User role store available again (Redis)');
      this.unavailable = false;
      return result;
    } catch (error) {
      // Once per outage, and the error's code or name only: a Redis error can echo a command's arguments.
      if (!this.unavailable) {
        this.logger.error(`User role store unavailable (Redis): ${(error as NodeJS.ErrnoException)?.code ?? (error as Error)?.name}`);
      }
      this.unavailable = true;
      throw new ServiceUnavailableException();
    }
  }

  private ready(): Promise<RedisRolesClient> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<RedisRolesClient> {
    const { createClient } = await import('redis');
    const client = createClient({
      url: this.url,
      // Fail at once while disconnected rather than hold an upgrade for a queue.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
    }) as unknown as RedisRolesClient;
    client.on('error', (error) => this.logger.debug(`User role store Redis client: ${(error as NodeJS.ErrnoException).code ?? error.name}`));
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
      this.logger.error('User role store unavailable (Redis): no connection');
      throw new ServiceUnavailableException();
    }
    this.client = client;
    return client;
  }
}

/** A stored value as roles: whatever else the key holds (a hand edit, an older sample) grants nothing unknown. */
function rolesFrom(stored: string | null): SampleRole[] | undefined {
  if (stored === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return [];
  }
  return Array.isArray(parsed) ? parsed.filter(isSampleRole) : [];
}
