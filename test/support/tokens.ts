import jwt from 'jsonwebtoken';

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
