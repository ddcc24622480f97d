import { Logger, ServiceUnavailableException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SampleRedis, type SampleRedisClient } from './sample-redis.js';

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
interface RedisRolesClient extends SampleRedisClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
}

const PREFIX = 'sample:roles:';

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
  private readonly redis: SampleRedis<RedisRolesClient>;
  // The last answer per user id (null: no change set). Bounded by the number of users.
  private readonly lastRead = new Map<string, SampleRole[] | null>();
  private unavailable = false;

  constructor(url: string) {
    super();
    this.redis = new SampleRedis(url, 'User role store', this.logger);
  }

  onModuleInit(): void {
    // Connected before the first upgrade needs it; a Redis that is not there yet is retried then.
    this.redis.ready().catch(() => undefined);
  }

  async get(userId: string): Promise<SampleRole[] | undefined> {
    let stored: string | null;
    try {
      const client = await this.redis.ready();
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
    const client = await this.redis.ready();
    await this.guard(() => client.set(PREFIX + userId, JSON.stringify(roles)));
    this.lastRead.set(userId, [...roles]);
  }

  onModuleDestroy(): Promise<void> {
    return this.redis.close();
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
