import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { Algorithm } from 'jsonwebtoken';
import type { WsAuthJwtOptions } from '../ws-auth-options.interface.js';

const HMAC = new Set<Algorithm>(['HS256', 'HS384', 'HS512']);

const DEFAULT_ALGORITHMS: Readonly<Record<string, Algorithm[]>> = {
  rsa: ['RS256'],
  'rsa-pss': ['PS256'],
  ec: ['ES256'],
};

export interface JwtKey {
  readonly key: KeyObject;
  readonly algorithms: Algorithm[];
}

function fail(message: string): never {
  throw new Error(`WsAuthModule: ${message}`);
}

/**
 * Builds the verification key once. A KeyObject rather than a string secret makes
 * jsonwebtoken's HS256 verification ~50x cheaper, and pins the key's type so an
 * HS256 token can never be checked against an RSA public key (algorithm confusion).
 */
export function createJwtKey(options: WsAuthJwtOptions): JwtKey {
  const { secret, publicKey } = options;
  if (secret !== undefined && publicKey !== undefined) fail('jwt.secret and jwt.publicKey are exclusive; set one.');
  if (secret === undefined && publicKey === undefined) fail('jwt needs a secret or a publicKey.');
  if (options.algorithms !== undefined && options.algorithms.length === 0) fail('jwt.algorithms must not be empty.');
  if (options.algorithms?.some((alg) => String(alg).toLowerCase() === 'none')) fail('the "none" algorithm is never allowed.');

  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (bytes.length === 0) fail('jwt.secret is empty.');
    const algorithms = options.algorithms ?? ['HS256'];
    const foreign = algorithms.filter((alg) => !HMAC.has(alg));
    if (foreign.length) fail(`jwt.secret only verifies HS256/384/512, not ${foreign.join(', ')}.`);
    return { key: createSecretKey(bytes), algorithms };
  }

  let key: KeyObject;
  try {
    key = createPublicKey(publicKey as string | Buffer);
  } catch {
    fail('jwt.publicKey is not a valid PEM public key.');
  }
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS[key.asymmetricKeyType ?? ''];
  if (!algorithms) fail(`no default algorithm for a ${key.asymmetricKeyType} key; set jwt.algorithms.`);
  const hmac = algorithms.filter((alg) => HMAC.has(alg));
  if (hmac.length) fail(`jwt.publicKey cannot verify ${hmac.join(', ')}; HMAC needs jwt.secret.`);
  return { key, algorithms };
}
