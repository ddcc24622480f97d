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
}

const DEVELOPMENT_SECRET = 'development-only-secret-change-me-0123456789';

/**
 * Reads the sample's environment contract: PORT, HOST, JWT_SECRET, ACCESS_TOKEN_TTL_S,
 * WS_AUTH_TIMEOUT_MS, WS_EXPIRY_WARNING_MS, REDIS_URL.
 */
export function sampleConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SampleConfig {
  const jwtSecret = env.JWT_SECRET || DEVELOPMENT_SECRET;
  if (!env.JWT_SECRET) {
    new Logger('Sample').warn('JWT_SECRET is not set: using a development secret. Never do this in production.');
  }
  return {
    port: Number(env.PORT ?? 3000),
    host: env.HOST ?? '127.0.0.1',
    jwtSecret,
    accessTokenTtlSeconds: Number(env.ACCESS_TOKEN_TTL_S ?? 900),
    authTimeoutMs: Number(env.WS_AUTH_TIMEOUT_MS ?? 5000),
    expiryWarningMs: Number(env.WS_EXPIRY_WARNING_MS ?? 60_000),
    redisUrl: env.REDIS_URL || undefined,
  };
}
