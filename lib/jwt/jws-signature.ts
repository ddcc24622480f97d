import { constants, createHash, hash, verify, type KeyObject } from 'node:crypto';
import type { WsJwtAlgorithm } from '../ws-auth-options.interface.js';

/**
 * Whether `signature` (the third segment, base64url as sent) signs `signingInput` (the first
 * two, as sent). The caller has checked all three are canonical base64url (token-shape.ts):
 * one spelling per byte string, so a signature may be compared as text.
 */
export type SignatureCheck = (signingInput: string, signature: string) => boolean;

// HMAC's block size B (RFC 2104 section 2) for each hash.
const BLOCK_BYTES: Readonly<Record<string, number>> = { sha256: 64, sha384: 128, sha512: 128 };
const DIGESTS: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
// RFC 7518 section 3.4: an ECDSA signature is R || S, each as long as the curve's order.
const ECDSA_LENGTHS: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };

/**
 * The JWA check of one algorithm with one key (RFC 7518 section 3), synchronous and through
 * node:crypto alone: the key is a KeyObject built once, so a handshake pays for the
 * signature and nothing else. The caller has pinned `alg` to the key's type (jwt-key.ts,
 * jwks-keys.ts): this never decides which algorithms a key may verify.
 */
export function signatureCheck(alg: WsJwtAlgorithm, key: KeyObject): SignatureCheck {
  const digest = DIGESTS[alg.slice(2)];
  switch (alg.slice(0, 2)) {
    case 'HS':
      return hmacCheck(digest, key.export());
    case 'RS': {
      const length = rsaSignatureLength(key);
      return (input, signature) => verifyDecoded(signature, length, (bytes) => verify(digest, Buffer.from(input), key, bytes));
    }
    case 'PS': {
      // The salt is as long as the hash (RFC 7518 section 3.5); AUTO would admit any salt.
      const pss = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 };
      // OpenSSL's PSS check admits a signature missing its leading zero byte: a second
      // spelling of the same token. RFC 8017 section 8.1.2 step 1 wants the modulus's length.
      const length = rsaSignatureLength(key);
      return (input, signature) => verifyDecoded(signature, length, (bytes) => verify(digest, Buffer.from(input), pss, bytes));
    }
    case 'ES': {
      const length = ECDSA_LENGTHS[alg];
      const ecdsa = { key, dsaEncoding: 'ieee-p1363' as const };
      return (input, signature) => verifyDecoded(signature, length, (bytes) => verify(digest, Buffer.from(input), ecdsa, bytes));
    }
    default:
      if (alg === 'EdDSA') return (input, signature) => verify(null, Buffer.from(input), key, Buffer.from(signature, 'base64url'));
      throw new Error(`no signature check for ${alg}`);
  }
}

/** The decoded signature to `check`, if it has the one length the algorithm allows. */
function verifyDecoded(signature: string, length: number, check: (bytes: Buffer) => boolean): boolean {
  const bytes = Buffer.from(signature, 'base64url');
  return bytes.length === length && check(bytes);
}

function rsaSignatureLength(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/**
 * HMAC (RFC 2104) as two one-shot hashes over pads derived from the key once. createHmac
 * costs a digest lookup and a key schedule on every call, which the profile showed as the
 * largest single cost of a fresh-token handshake; the result is the same bytes.
 */
function hmacCheck(digest: string, secret: Buffer): SignatureCheck {
  const block = BLOCK_BYTES[digest];
  const key = secret.length > block ? createHash(digest).update(secret).digest() : secret;
  const innerPad = Buffer.alloc(block, 0x36);
  const outer = Buffer.alloc(block + Number(digest.slice(3)) / 8, 0x5c);
  for (let i = 0; i < key.length; i += 1) {
    innerPad[i] ^= key[i];
    outer[i] ^= key[i];
  }
  return (input, signature) => {
    const inner = Buffer.allocUnsafe(block + input.length);
    innerPad.copy(inner);
    // The signing input is base64url and a dot: one byte per character.
    inner.write(input, block, 'latin1');
    // `outer` is reused: the check runs start to end without yielding, so no two calls share
    // it at once. The inner digest comes back as 'binary' text (one character per byte,
    // lossless) written into it: a 'buffer' digest is an ArrayBuffer of its own per call.
    outer.write(hash(digest, inner, 'binary'), block, 'binary');
    // The MAC as base64url text, compared with the signature as sent: decoding the signature
    // instead cost a buffer per fresh token and was a fifth of the whole check in the profile.
    return sameText(signature, hash(digest, outer, 'base64url'));
  };
}

/**
 * Equal strings, in time that depends on their length only (a MAC's length is public): every
 * character is compared, none returns early, so the time does not tell how much of a forged
 * signature was right.
 */
function sameText(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  let difference = 0;
  for (let i = 0; i < expected.length; i += 1) difference |= given.charCodeAt(i) ^ expected.charCodeAt(i);
  return difference === 0;
}
