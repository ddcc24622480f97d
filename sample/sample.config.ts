import { Logger } from '@nestjs/common';

export interface SampleConfig {
  port: number;
  host: string;
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  /** Several instances share tickets through Redis when set. */
  redisUrl?: string;
}

const DEVELOPMENT_SECRET = 'development-only-secret-change-me-0123456789';

/** Reads the sample's environment contract: PORT, HOST, JWT_SECRET, ACCESS_TOKEN_TTL_S, REDIS_URL. */
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
    redisUrl: env.REDIS_URL || undefined,
  };
}
