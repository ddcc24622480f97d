import { Logger, ServiceUnavailableException, type OnModuleDestroy } from '@nestjs/common';
import { SampleRedis, type SampleRedisClient } from './sample-redis.js';
import { MAX_ACCESS_TOKENS_PER_FAMILY, RefreshTokenStore, type IssuedAccessToken, type RefreshFamily, type RotateOutcome } from './refresh-token-store.js';

/** The commands this store uses, as the official `redis` client (v4+) spells them. */
interface RedisScriptClient extends SampleRedisClient {
  eval(script: string, options: { keys?: string[]; arguments: string[] }): Promise<unknown>;
  sMembers(key: string): Promise<string[]>;
}

const PREFIX = 'sample:refresh:';

// Keys, all under PREFIX and expiring with their session:
//   family:<id>          hash: subject, current (hash of the live token), expiresAt (epoch ms)
//   family:<id>:access   list of "jti expiresAt", the access tokens issued in the session
//   token:<hash>         the family a token (live or rotated) belongs to
//   subject:<subject>    set of that subject's family ids, for kicks
// Each operation is one Lua script, so rotation is atomic across instances. The scripts build
// key names from the prefix, so they suit one Redis node (not Redis Cluster).
const CREATE = `
local p, id, subject, exp, hash, access = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local family = p .. 'family:' .. id
redis.call('HSET', family, 'subject', subject, 'current', hash, 'expiresAt', exp)
redis.call('PEXPIREAT', family, exp)
redis.call('RPUSH', family .. ':access', access)
redis.call('PEXPIREAT', family .. ':access', exp)
redis.call('SET', p .. 'token:' .. hash, id, 'PXAT', exp)
redis.call('SADD', p .. 'subject:' .. subject, id)
redis.call('PEXPIREAT', p .. 'subject:' .. subject, exp)
return 1`;

const ROTATE = `
local p, presented, nexthash, access, keep, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local id = redis.call('GET', p .. 'token:' .. presented)
if not id then return {'unknown'} end
local family = p .. 'family:' .. id
local f = redis.call('HMGET', family, 'subject', 'current', 'expiresAt')
if not f[1] then return {'unknown'} end
if f[2] ~= presented then
  local issued = redis.call('LRANGE', family .. ':access', 0, -1)
  redis.call('DEL', family, family .. ':access')
  redis.call('SREM', p .. 'subject:' .. f[1], id)
  return {'reused', id, f[1], f[3], issued}
end
local live = {}
for _, line in ipairs(redis.call('LRANGE', family .. ':access', 0, -1)) do
  local expiry = tonumber(string.match(line, ' (%d+)$'))
  if expiry and expiry > now then live[#live + 1] = line end
end
if #live >= keep then
  redis.call('DEL', family, family .. ':access')
  redis.call('SREM', p .. 'subject:' .. f[1], id)
  return {'reused', id, f[1], f[3], live}
end
redis.call('HSET', family, 'current', nexthash)
redis.call('SET', p .. 'token:' .. nexthash, id, 'PXAT', f[3])
redis.call('DEL', family .. ':access')
live[#live + 1] = access
redis.call('RPUSH', family .. ':access', unpack(live))
redis.call('PEXPIREAT', family .. ':access', f[3])
return {'rotated', id, f[1], f[3], redis.call('LRANGE', family .. ':access', 0, -1)}`;

const END = `
local p, id = ARGV[1], ARGV[2]
local family = p .. 'family:' .. id
local f = redis.call('HMGET', family, 'subject', 'expiresAt')
if not f[1] then return {'unknown'} end
local issued = redis.call('LRANGE', family .. ':access', 0, -1)
redis.call('DEL', family, family .. ':access')
redis.call('SREM', p .. 'subject:' .. f[1], id)
return {'ended', id, f[1], f[2], issued}`;

/**
 * Refresh-token families in Redis, so a browser whose next request lands on another instance
 * still refreshes, and a reused token ends its family everywhere at once. An unreachable Redis
 * answers 503: never a refresh without the check.
 */
export class RedisRefreshTokenStore extends RefreshTokenStore implements OnModuleDestroy {
  private readonly logger = new Logger('Sample');
  private readonly redis: SampleRedis<RedisScriptClient>;

  constructor(url: string) {
    super();
    this.redis = new SampleRedis(url, 'Refresh-token store', this.logger);
  }

  async create(family: Omit<RefreshFamily, 'accessTokens'>, tokenHash: string, access: IssuedAccessToken): Promise<void> {
    await this.run(CREATE, [family.id, family.subject, String(family.expiresAt), tokenHash, entry(access)]);
  }

  async rotate(tokenHash: string, nextHash: string, access: IssuedAccessToken): Promise<RotateOutcome> {
    const reply = await this.run(ROTATE, [tokenHash, nextHash, entry(access), String(MAX_ACCESS_TOKENS_PER_FAMILY), String(Date.now())]);
    const family = familyOf(reply);
    if (!family) return { kind: 'unknown' };
    return { kind: (reply as string[])[0] === 'rotated' ? 'rotated' : 'reused', family };
  }

  async end(familyId: string): Promise<RefreshFamily | undefined> {
    return familyOf(await this.run(END, [familyId]));
  }

  async endAllOf(subject: string): Promise<RefreshFamily[]> {
    const client = await this.redis.ready();
    const ids = await this.guard(() => client.sMembers(PREFIX + 'subject:' + subject));
    const ended = await Promise.all(ids.map((id) => this.end(id)));
    return ended.filter((family): family is RefreshFamily => family !== undefined);
  }

  onModuleDestroy(): Promise<void> {
    return this.redis.close();
  }

  private async run(script: string, args: string[]): Promise<unknown> {
    const client = await this.redis.ready();
    return this.guard(() => client.eval(script, { arguments: [PREFIX, ...args] }));
  }

  private async guard<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      // The error's code or name only: a Redis error can echo a command's arguments.
      this.logger.error(`Refresh-token store unavailable (Redis): ${(error as NodeJS.ErrnoException)?.code ?? (error as Error)?.name}`);
      throw new ServiceUnavailableException();
    }
  }
}

function entry(access: IssuedAccessToken): string {
  return `${access.jti} ${access.expiresAt}`;
}

function familyOf(reply: unknown): RefreshFamily | undefined {
  if (!Array.isArray(reply) || reply[0] === 'unknown') return undefined;
  const [, id, subject, expiresAt, issued] = reply as [string, string, string, string, string[]];
  const accessTokens = issued.map((line) => {
    const [jti, expiry] = line.split(' ');
    return { jti: jti!, expiresAt: Number(expiry) };
  });
  return { id, subject, expiresAt: Number(expiresAt), accessTokens };
}
