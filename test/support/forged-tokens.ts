import { createHmac, generateKeyPairSync } from 'node:crypto';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/**
 * An HMAC-signed token from literal JSON text. Signing libraries re-serialise claims, which
 * loses a literal `__proto__` key and refuses odd headers; an attacker's token keeps them.
 */
export function hmacSignedToken(headerJson: string, payloadJson: string, secret: string | Buffer, hash = 'sha256'): string {
  const signingInput = `${b64(headerJson)}.${b64(payloadJson)}`;
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest('base64url')}`;
}

export interface PemKeyPair {
  readonly publicKey: string;
  readonly privateKey: string;
}

/** A fresh key pair per run, so no test depends on a key checked into the repository. */
export function pemKeyPair(type: 'rsa' | 'ec' | 'ed25519' = 'rsa', namedCurve = 'P-256'): PemKeyPair {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding });
  if (type === 'ec') return generateKeyPairSync('ec', { namedCurve, publicKeyEncoding, privateKeyEncoding });
  return generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
}

/** Replaces one character in the middle of a segment, so the change never hides in base64 padding bits. */
export function flipCharacter(segment: string): string {
  const middle = Math.floor(segment.length / 2);
  const replacement = segment[middle] === 'A' ? 'B' : 'A';
  return segment.slice(0, middle) + replacement + segment.slice(middle + 1);
}
