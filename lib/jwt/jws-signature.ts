import { constants, createHash, hash, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { WsJwtAlgorithm } from '../ws-auth-options.interface.js';

/** Whether `signature` (the decoded third segment) signs `signingInput` (the first two, as sent). */
export type SignatureCheck = (signingInput: string, signature: Buffer) => boolean;

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
      return (input, signature) => signature.length === length && verify(digest, Buffer.from(input), key, signature);
    }
    case 'PS': {
      // The salt is as long as the hash (RFC 7518 section 3.5); AUTO would admit any salt.
      const pss = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 };
      // OpenSSL's PSS check admits a signature missing its leading zero byte: a second
      // spelling of the same token. RFC 8017 section 8.1.2 step 1 wants the modulus's length.
      const length = rsaSignatureLength(key);
      return (input, signature) => signature.length === length && verify(digest, Buffer.from(input), pss, signature);
    }
    case 'ES': {
      const length = ECDSA_LENGTHS[alg];
      const ecdsa = { key, dsaEncoding: 'ieee-p1363' as const };
      return (input, signature) => signature.length === length && verify(digest, Buffer.from(input), ecdsa, signature);
    }
    default:
      if (alg === 'EdDSA') return (input, signature) => verify(null, Buffer.from(input), key, signature);
      throw new Error(`no signature check for ${alg}`);
  }
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
  const expected = Buffer.alloc(outer.length - block);
  return (input, signature) => {
    const inner = Buffer.allocUnsafe(block + input.length);
    innerPad.copy(inner);
    // The signing input is base64url and a dot: one byte per character.
    inner.write(input, block, 'latin1');
    // `outer` and `expected` are reused: the check runs start to end without yielding, so no
    // two calls share them at once. Digests come back as 'binary' text (one character per
    // byte, lossless) written into them: a 'buffer' digest is an ArrayBuffer of its own, two
    // per fresh token, which measured about as costly as both hashes.
    outer.write(hash(digest, inner, 'binary'), block, 'binary');
    expected.write(hash(digest, outer, 'binary'), 0, 'binary');
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  };
}
