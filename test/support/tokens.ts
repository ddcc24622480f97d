import jwt from 'jsonwebtoken';
import type { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import type { WsJwtClaims } from '../../lib/ws-auth-options.interface.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export function signToken(claims: Record<string, unknown> = {}, options: jwt.SignOptions = {}, secret: jwt.Secret = TEST_SECRET): string {
  return jwt.sign({ sub: '1', username: 'alice', roles: ['user'], ...claims }, secret, { expiresIn: 300, ...options });
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token assembled by hand, for headers and claims no signing library will produce. */
export function handMadeToken(header: Record<string, unknown>, claims: Record<string, unknown> | string, signature = ''): string {
  return `${b64(header)}.${b64(claims)}.${signature}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A cache of verified tokens keeps a token from the second time it is offered: offers it twice. */
export function keepVerified(cache: VerifiedTokenCache, token: string, claims: WsJwtClaims, now: number): void {
  cache.set(token, claims, now);
  cache.set(token, claims, now);
}
