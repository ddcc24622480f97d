import assert from 'node:assert/strict';
import { createHmac, createSecretKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { WsRefusal } from '../../lib/index.js';
import { signatureCheck } from '../../lib/jwt/jws-signature.js';
import { JwtVerifier, verifiesSignature } from '../../lib/jwt/jwt-verifier.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SECRET = 'spellings-secret-long-enough-for-every-hmac-0123456789';
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const refused = (error: unknown) => error instanceof WsRefusal && error.reason === 'invalid_credential';
const live = (claims: Record<string, unknown> = {}) => ({ sub: '1', exp: Math.floor(Date.now() / 1000) + 300, ...claims });

function signed(header: object, claims: object, signer: (input: string) => Buffer): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${b64(signer(input))}`;
}
const hmac =
  (hash: string, secret: string | Buffer = SECRET) =>
  (input: string) =>
    createHmac(hash, secret).update(input).digest();
const withSignature = (token: string, signature: string) => `${token.slice(0, token.lastIndexOf('.'))}.${signature}`;
const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1);

/** Every spelling of `signature` that differs in its last character only. */
function lastCharacterVariants(signature: string): string[] {
  return [...ALPHABET].filter((c) => c !== signature.at(-1)).map((c) => signature.slice(0, -1) + c);
}

describe('HMAC signatures compared as base64url text: one spelling each', () => {
  for (const [alg, hash] of [
    ['HS256', 'sha256'],
    ['HS384', 'sha384'],
    ['HS512', 'sha512'],
  ] as const) {
    it(`${alg}: refuses every other last character, padding, a trailing character and a case change; accepts only the one spelling`, () => {
      const verifier = new JwtVerifier({ secret: SECRET, algorithms: [alg] }, 0);
      const check = signatureCheck(alg, createSecretKey(Buffer.from(SECRET)));
      const token = signed({ alg }, live(), hmac(hash));
      const signature = signatureOf(token);
      const input = token.slice(0, token.lastIndexOf('.'));
      assert.equal(verifier.verify(token).sub, '1');
      assert.equal(check(input, signature), true);
      // Decoders ignore the bits past the last byte: a decode-and-compare check would admit
      // some of these; the text compare admits none, even without the shape check in front.
      for (const variant of lastCharacterVariants(signature)) {
        assert.equal(check(input, variant), false, variant);
        assert.throws(() => verifier.verify(withSignature(token, variant)), refused, variant);
      }
      const swapped = signature.replace(/[a-z]/, (c) => c.toUpperCase());
      assert.notEqual(swapped, signature);
      for (const sent of [`${signature}=`, `${signature}==`, `${signature}A`, signature.slice(0, -1), swapped, '', `${signature}.`]) {
        assert.equal(check(input, sent), false, sent);
        assert.throws(() => verifier.verify(withSignature(token, sent)), refused, sent);
      }
    });
  }

  it('refuses a signature spelled in the standard base64 alphabet (+ and /), and in look-alike characters', () => {
    const verifier = new JwtVerifier({ secret: SECRET }, 0);
    const check = signatureCheck('HS256', createSecretKey(Buffer.from(SECRET)));
    // A token whose signature has both a '-' and a '_' in it, so both respellings differ.
    let token = '';
    for (let i = 0; i < 2000 && !/-.*_|_.*-/.test(signatureOf(token)); i += 1) token = signed({ alg: 'HS256' }, live({ jti: `std${i}` }), hmac('sha256'));
    const signature = signatureOf(token);
    const input = token.slice(0, token.lastIndexOf('.'));
    const standard = signature.replaceAll('-', '+').replaceAll('_', '/');
    // U+0410 CYRILLIC A, U+FF21 FULLWIDTH A, and a code unit whose low byte is 'A'.
    const lookAlikes = ['\u0410', '\uFF21', '\u0141'].map((c) => signature.replace(/A|[^A]/, c));
    for (const sent of [standard, standard.replace('+', '-'), ...lookAlikes, `${signature}\u200B`, ` ${signature}`]) {
      assert.notEqual(sent, signature);
      assert.equal(check(input, sent), false, sent);
      assert.throws(() => verifier.verify(withSignature(token, sent)), refused, sent);
    }
  });

  it('refuses an HS384 MAC under an HS256 header and an HS256 MAC under an HS384 header, with both algorithms allowed', () => {
    const verifier = new JwtVerifier({ secret: SECRET, algorithms: ['HS256', 'HS384', 'HS512'] }, 0);
    const claims = live();
    assert.equal(verifier.verify(signed({ alg: 'HS384' }, claims, hmac('sha384'))).sub, '1');
    for (const [alg, hash] of [
      ['HS256', 'sha384'],
      ['HS256', 'sha512'],
      ['HS384', 'sha256'],
      ['HS384', 'sha512'],
      ['HS512', 'sha384'],
    ] as const) {
      assert.throws(() => verifier.verify(signed({ alg }, claims, hmac(hash))), refused, `${alg} over ${hash}`);
      // The right MAC cut or padded to the header's length is no MAC either.
      const full = hmac(hash)(`${b64(JSON.stringify({ alg }))}.${b64(JSON.stringify(claims))}`);
      const length = Number(alg.slice(2)) / 8;
      const resized = full.length > length ? full.subarray(0, length) : Buffer.concat([full, Buffer.alloc(length - full.length)]);
      assert.throws(() => verifier.verify(signed({ alg }, claims, () => resized)), refused, `${alg} over ${hash} resized`);
    }
  });

  it('computes the same MAC as createHmac for secrets of the block size, one byte either side, and far longer', () => {
    for (const [alg, hash, block] of [
      ['HS256', 'sha256', 64],
      ['HS384', 'sha384', 128],
      ['HS512', 'sha512', 128],
    ] as const) {
      for (const length of [1, block - 1, block, block + 1, block * 3]) {
        const secret = Buffer.alloc(length, length % 251);
        const check = signatureCheck(alg, createSecretKey(secret));
        const input = `${b64(JSON.stringify({ alg }))}.${b64(JSON.stringify(live()))}`;
        assert.equal(check(input, b64(hmac(hash, secret)(input))), true, `${alg} secret of ${length}`);
        // Below the block size HMAC pads the key with zeros (RFC 2104 section 2), so only a
        // secret of the block size or more gives another MAC with a zero byte appended.
        const longer = hmac(hash, Buffer.concat([secret, Buffer.alloc(1)]))(input);
        if (length >= block) assert.equal(check(input, b64(longer)), false, `${alg} secret of ${length} + 0x00`);
        assert.equal(check(input, b64(hmac(hash, Buffer.concat([secret, Buffer.alloc(1, 1)]))(input))), false, `${alg} secret of ${length} + 0x01`);
      }
    }
  });
});

const ORDERS = {
  'P-256': BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551'),
  'P-384': BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973'),
  'P-521': BigInt(`0x01FF${'FFFFFFFF'.repeat(7)}FFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409`),
};
const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
const toBig = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`);
const fromBig = (value: bigint, length: number) => Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;

describe('asymmetric signatures decoded inside the check: one value, one length', () => {
  it('RS256: refuses the signature plus the modulus, which has the same length and the same value mod n', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const verifier = new JwtVerifier({ publicKey: pem(rsa.publicKey) }, 0);
    const n = BigInt(`0x${Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
    let tried = 0;
    for (let i = 0; i < 200 && tried < 3; i += 1) {
      const token = signed({ alg: 'RS256' }, live({ jti: `n${i}` }), (input) => sign('sha256', Buffer.from(input), rsa.privateKey));
      const s = toBig(Buffer.from(signatureOf(token), 'base64url'));
      if (s + n >= 2n ** 2048n) continue;
      tried += 1;
      assert.equal(verifier.verify(token).sub, '1');
      assert.throws(() => verifier.verify(withSignature(token, b64(fromBig(s + n, 256)))), refused);
    }
    assert.equal(tried, 3, 'found signatures small enough to add the modulus to');
  });

  // EdDSA reaches the check through a JWKS only (jwt-key.ts refuses an Ed25519 static key).
  it('EdDSA: refuses a signature one byte short or long, a zero signature, and S + L (RFC 8032 section 5.1.7: S < L)', () => {
    const ed = generateKeyPairSync('ed25519');
    const check = signatureCheck('EdDSA', ed.publicKey);
    const token = signed({ alg: 'EdDSA' }, live(), (input) => sign(null, Buffer.from(input), ed.privateKey));
    const input = token.slice(0, token.lastIndexOf('.'));
    assert.equal(check(input, signatureOf(token)), true);
    const bytes = Buffer.from(signatureOf(token), 'base64url');
    // S is little-endian in the second half.
    const s = toBig(Buffer.from([...bytes.subarray(32)].toReversed()));
    const sPlusL = Buffer.concat([bytes.subarray(0, 32), Buffer.from([...fromBig(s + ED25519_ORDER, 32)].toReversed())]);
    for (const [what, sent] of [
      ['one byte short', bytes.subarray(0, 63)],
      ['a zero byte appended', Buffer.concat([bytes, Buffer.alloc(1)])],
      ['a zero byte prepended', Buffer.concat([Buffer.alloc(1), bytes])],
      ['all zero', Buffer.alloc(64)],
      ['S + L', sPlusL],
    ] as const) {
      assert.equal(verifiesSignature(check, input, b64(sent)), false, what);
    }
  });

  // ECDSA's (r, n - s) verifies wherever (r, s) does. Unlike a non-canonical base64url or an RSA
  // signature short of its modulus, no rule of JWA or of the signer makes one of them the right
  // one: Node, OpenSSL and jose sign either, so refusing the high one would refuse about half of
  // an issuer's genuine tokens. Both spellings carry the same claims, and what the library keys
  // on (revocation by jti or subject, the identity) is the claims, never the token's text.
  for (const [alg, curve, hash, length] of [
    ['ES256', 'P-256', 'sha256', 64],
    ['ES384', 'P-384', 'sha384', 96],
    ['ES512', 'P-521', 'sha512', 132],
  ] as const) {
    it(`${alg}: the second spelling (r, n - s) of a signature stands for the same claims, verified in full`, () => {
      const ec = generateKeyPairSync('ec', { namedCurve: curve });
      const verifier = new JwtVerifier({ publicKey: pem(ec.publicKey) });
      const token = signed({ alg }, live(), (input) => sign(hash, Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
      const claims = verifier.verify(token);
      verifier.verify(token);
      const bytes = Buffer.from(signatureOf(token), 'base64url');
      const half = length / 2;
      const flipped = Buffer.concat([bytes.subarray(0, half), fromBig(ORDERS[curve] - toBig(bytes.subarray(half)), half)]);
      assert.notDeepEqual(flipped, bytes);
      const respelled = withSignature(token, b64(flipped));
      assert.deepEqual(verifier.verify(respelled), claims);
      // Not answered for the cached spelling: it is another token to the cache.
      assert.equal(verifier.verifiedTokens.size, 1);
      // Any other s is refused.
      const other = Buffer.concat([bytes.subarray(0, half), fromBig((ORDERS[curve] - toBig(bytes.subarray(half)) + 1n) % ORDERS[curve], half)]);
      assert.throws(() => verifier.verify(withSignature(token, b64(other))), refused);
    });
  }
});
