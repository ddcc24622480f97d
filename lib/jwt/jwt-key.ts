import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { WsAuthJwtOptions, WsJwtAlgorithm } from '../ws-auth-options.interface.js';
import { failStartup } from '../startup-checks.js';

const HMAC = new Set<WsJwtAlgorithm>(['HS256', 'HS384', 'HS512']);

// Which algorithms each key can verify. ECDSA is tied to its curve (RFC 7518 section 3.4).
const ALGORITHMS_BY_KEY: Readonly<Record<string, readonly WsJwtAlgorithm[]>> = {
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
};

function keyFamily(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? '';
  return type === 'ec' ? `ec:${key.asymmetricKeyDetails?.namedCurve}` : type;
}

/**
 * An RSA-PSS key may restrict its own use (RFC 4055): a hash, an MGF1 hash, a least salt
 * length. JWA's PS256/384/512 use the same hash for both and a salt as long as the hash
 * (RFC 7518 section 3.5), so a restricted key verifies one of them at most.
 */
function pssAlgorithmsOf(key: KeyObject): readonly WsJwtAlgorithm[] {
  const { hashAlgorithm, mgf1HashAlgorithm, saltLength } = key.asymmetricKeyDetails ?? {};
  if (hashAlgorithm === undefined) return ALGORITHMS_BY_KEY['rsa-pss'];
  const bits = /^sha(256|384|512)$/.exec(hashAlgorithm)?.[1];
  if (!bits || mgf1HashAlgorithm !== hashAlgorithm || (saltLength !== undefined && saltLength > Number(bits) / 8)) return [];
  return [`PS${bits}` as WsJwtAlgorithm];
}

export interface JwtKey {
  readonly key: KeyObject;
  readonly algorithms: WsJwtAlgorithm[];
}

/**
 * Builds and checks the verification key once, and pins the algorithms it may verify: the
 * key's type decides them, so an HS256 token can never be checked against an RSA public key
 * used as an HMAC secret (algorithm confusion).
 */
export function createJwtKey(options: WsAuthJwtOptions): JwtKey {
  const { secret, publicKey } = options;
  if (secret !== undefined && publicKey !== undefined) failStartup('jwt.secret and jwt.publicKey are exclusive; set one.');
  if (secret === undefined && publicKey === undefined) failStartup('jwt needs a secret or a publicKey.');
  if (options.algorithms !== undefined && options.algorithms.length === 0) failStartup('jwt.algorithms must not be empty.');
  if (options.algorithms?.some((alg) => String(alg).toLowerCase() === 'none')) failStartup('the "none" algorithm is never allowed.');

  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (bytes.length === 0) failStartup('jwt.secret is empty.');
    const algorithms = options.algorithms ?? ['HS256'];
    const foreign = algorithms.filter((alg) => !HMAC.has(alg));
    if (foreign.length) failStartup(`jwt.secret only verifies HS256/384/512, not ${foreign.join(', ')}.`);
    return { key: createSecretKey(bytes), algorithms };
  }

  let key: KeyObject;
  try {
    key = createPublicKey(publicKey as string | Buffer);
  } catch {
    failStartup('jwt.publicKey is not a valid PEM public key.');
  }
  const family = keyFamily(key);
  const usable = family === 'rsa-pss' ? pssAlgorithmsOf(key) : ALGORITHMS_BY_KEY[family];
  // EdDSA is left to the JWKS path (jose), and an unknown curve cannot be pinned safely.
  if (!usable) failStartup(`a ${family} public key is not supported; use an RSA or a P-256/384/521 EC key.`);
  if (usable.length === 0) failStartup('this RSA-PSS public key is restricted to parameters no PS256/384/512 uses.');
  const algorithms = options.algorithms ?? [usable[0]];
  const hmac = algorithms.filter((alg) => HMAC.has(alg));
  if (hmac.length) failStartup(`jwt.publicKey cannot verify ${hmac.join(', ')}; HMAC needs jwt.secret.`);
  const foreign = algorithms.filter((alg) => !usable.includes(alg));
  if (foreign.length) failStartup(`a ${family} public key cannot verify ${foreign.join(', ')}.`);
  return { key, algorithms };
}
