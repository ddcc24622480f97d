import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';

export interface SampleConfig {
  port: number;
  host: string;
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  /** In-band gateways close unauthenticated sockets after this long (4408). */
  authTimeoutMs: number;
  /** `token_expiring` is sent this long before a token's `exp`. */
  expiryWarningMs: number;
  /** Several instances share tickets and disconnects through Redis when set. */
  redisUrl?: string;
  /** HTTPS and WSS; with `ca`, client certificates issued by it are one more way in. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** Sockets verify tokens against this identity provider's JWKS instead of the JWT secret. */
  jwksUrl?: string;
  jwksIssuer?: string;
  jwksAudience?: string;
  /** A login's refresh-token family lives this long, however often it is rotated. */
  refreshTokenTtlSeconds?: number;
  /** Attempts per (address, username) on POST /auth/login. */
  loginThrottle?: SampleThrottle;
  /** Requests per address on POST /auth/ws-ticket, and apart from those on POST /auth/topic-token. */
  ticketThrottle?: SampleThrottle;
  /** A topic token (POST /auth/topic-token) opens its `doc:` topic this long. */
  topicTokenTtlSeconds?: number;
  /** Every open connection is re-checked against the user store this often; 0: never. */
  revalidateMs?: number;
}

export interface SampleThrottle {
  limit: number;
  ttlSeconds: number;
}

/** The defaults of the optional settings, in one place for the env reader and for tests. */
export const SAMPLE_DEFAULTS = {
  refreshTokenTtlSeconds: 8 * 3600,
  // Generous enough for scripts that log in dozens of times a minute as a few users; a password
  // guesser gets 20 tries a minute per username from one address.
  loginThrottle: { limit: 20, ttlSeconds: 60 },
  ticketThrottle: { limit: 60, ttlSeconds: 60 },
  topicTokenTtlSeconds: 300,
  // Off: an admin's role change re-checks the user's connections at once (admin:set-roles).
  revalidateMs: 0,
} as const satisfies Pick<Required<SampleConfig>, 'refreshTokenTtlSeconds' | 'loginThrottle' | 'ticketThrottle' | 'topicTokenTtlSeconds' | 'revalidateMs'>;

const DEVELOPMENT_SECRET = 'development-only-secret-change-me-0123456789';

/**
 * Reads the sample's environment contract: PORT, HOST, JWT_SECRET, ACCESS_TOKEN_TTL_S,
 * WS_AUTH_TIMEOUT_MS, WS_EXPIRY_WARNING_MS, REDIS_URL, TLS_CERT, TLS_KEY, TLS_CA (PEM file
 * paths, or PEM text), JWKS_URL (with the optional JWKS_ISSUER and JWKS_AUDIENCE),
 * REFRESH_TOKEN_TTL_S, LOGIN_THROTTLE_LIMIT, LOGIN_THROTTLE_TTL_S, TICKET_THROTTLE_LIMIT,
 * TICKET_THROTTLE_TTL_S, TOPIC_TOKEN_TTL_S, WS_REVALIDATE_MS.
 */
export function sampleConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SampleConfig {
  const jwtSecret = env.JWT_SECRET || DEVELOPMENT_SECRET;
  if (!env.JWT_SECRET) {
    new Logger('Sample').warn('JWT_SECRET is not set: using a development secret. Never do this in production.');
  }
  if (env.JWKS_URL) {
    new Logger('Sample').warn('JWKS_URL is set: sockets accept tokens of that identity provider, not those of /auth/login.');
  }
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret,
    accessTokenTtlSeconds: Number(env.ACCESS_TOKEN_TTL_S ?? 900),
    authTimeoutMs: Number(env.WS_AUTH_TIMEOUT_MS ?? 5000),
    expiryWarningMs: Number(env.WS_EXPIRY_WARNING_MS ?? 60_000),
    redisUrl: env.REDIS_URL || undefined,
    tls: tlsFromEnv(env),
    jwksUrl: env.JWKS_URL || undefined,
    jwksIssuer: env.JWKS_ISSUER || undefined,
    jwksAudience: env.JWKS_AUDIENCE || undefined,
    refreshTokenTtlSeconds: Number(env.REFRESH_TOKEN_TTL_S ?? SAMPLE_DEFAULTS.refreshTokenTtlSeconds),
    loginThrottle: throttleFromEnv(env, 'LOGIN', SAMPLE_DEFAULTS.loginThrottle),
    ticketThrottle: throttleFromEnv(env, 'TICKET', SAMPLE_DEFAULTS.ticketThrottle),
    topicTokenTtlSeconds: numberFromEnv(env, 'TOPIC_TOKEN_TTL_S', SAMPLE_DEFAULTS.topicTokenTtlSeconds, 'positive'),
    revalidateMs: numberFromEnv(env, 'WS_REVALIDATE_MS', SAMPLE_DEFAULTS.revalidateMs, 'zero or more'),
  };
}

// A typo here would otherwise sign tokens that never expire (NaN) or re-check in a tight loop.
function numberFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, range: 'positive' | 'zero or more'): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (range === 'positive' && value === 0))
    throw new Error(`${name} must be a ${range === 'positive' ? 'positive number' : 'number, 0 or more'}.`);
  return value;
}

function throttleFromEnv(env: NodeJS.ProcessEnv, prefix: 'LOGIN' | 'TICKET', defaults: SampleThrottle): SampleThrottle {
  return {
    limit: Number(env[`${prefix}_THROTTLE_LIMIT`] ?? defaults.limit),
    ttlSeconds: Number(env[`${prefix}_THROTTLE_TTL_S`] ?? defaults.ttlSeconds),
  };
}

function tlsFromEnv(env: NodeJS.ProcessEnv): SampleConfig['tls'] {
  const { TLS_CERT: cert, TLS_KEY: key, TLS_CA: ca } = env;
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key) throw new Error('Set both TLS_CERT and TLS_KEY to serve HTTPS (TLS_CA alone is not enough).');
  return { cert: pem('TLS_CERT', cert), key: pem('TLS_KEY', key), ca: ca ? pem('TLS_CA', ca) : undefined };
}

function pem(name: string, value: string): Buffer {
  if (value.trimStart().startsWith('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch {
    // Never the value: a mangled key is still a key.
    throw new Error(`${name} is neither PEM text nor a readable file.`);
  }
}
