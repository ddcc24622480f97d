import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes, sign as signWithKey } from 'node:crypto';
import { describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { createJwtKey } from '../../lib/jwt/jwt-key.js';
import { signatureCheck } from '../../lib/jwt/jws-signature.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';
import type { WsAuthJwtOptions } from '../../lib/ws-auth-options.interface.js';
import { flipCharacter, hmacSignedToken, pemKeyPair } from '../support/forged-tokens.js';
import { handMadeToken, nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const rsa = pemKeyPair('rsa');
const ec = pemKeyPair('ec');

function assertStartupFailure(options: WsAuthJwtOptions, message: RegExp) {
  assert.throws(
    () => createJwtKey(options),
    (error: Error) => {
      assert.match(error.message, /^WsAuthModule: /);
      assert.match(error.message, message);
      return true;
    },
  );
  // The verifier is what the module builds, so it must fail the same way.
  assert.throws(() => new JwtVerifier(options), message);
}

describe('createJwtKey refuses options that cannot be safe', () => {
  it('needs a secret or a publicKey', () => {
    assertStartupFailure({}, /jwt needs a secret or a publicKey/);
  });

  it('refuses a secret and a publicKey together', () => {
    assertStartupFailure({ secret: TEST_SECRET, publicKey: rsa.publicKey }, /jwt\.secret and jwt\.publicKey are exclusive; set one/);
  });

  it('refuses an empty algorithms list', () => {
    assertStartupFailure({ secret: TEST_SECRET, algorithms: [] }, /jwt\.algorithms must not be empty/);
    assertStartupFailure({ publicKey: rsa.publicKey, algorithms: [] }, /jwt\.algorithms must not be empty/);
  });

  for (const none of ['none', 'None', 'NONE', 'nOnE']) {
    it(`refuses "${none}" among the algorithms`, () => {
      assertStartupFailure({ secret: TEST_SECRET, algorithms: [none as never] }, /"none" algorithm is never allowed/);
      assertStartupFailure({ secret: TEST_SECRET, algorithms: ['HS256', none as never] }, /"none" algorithm is never allowed/);
      assertStartupFailure({ publicKey: rsa.publicKey, algorithms: ['RS256', none as never] }, /"none" algorithm is never allowed/);
    });
  }

  it('refuses an empty secret, as a string or as bytes', () => {
    assertStartupFailure({ secret: '' }, /jwt\.secret is empty/);
    assertStartupFailure({ secret: Buffer.alloc(0) }, /jwt\.secret is empty/);
  });

  it('refuses HMAC algorithms with a public key (algorithm confusion)', () => {
    assertStartupFailure({ publicKey: rsa.publicKey, algorithms: ['HS256'] }, /jwt\.publicKey cannot verify HS256; HMAC needs jwt\.secret/);
    assertStartupFailure({ publicKey: rsa.publicKey, algorithms: ['RS256', 'HS512'] }, /cannot verify HS512/);
  });

  it('refuses asymmetric algorithms with a secret', () => {
    assertStartupFailure({ secret: TEST_SECRET, algorithms: ['RS256'] }, /jwt\.secret only verifies HS256\/384\/512, not RS256/);
    assertStartupFailure({ secret: TEST_SECRET, algorithms: ['HS256', 'ES256'] }, /not ES256/);
  });

  it('refuses a publicKey that is not a PEM public key', () => {
    assertStartupFailure({ publicKey: 'not a pem' }, /jwt\.publicKey is not a valid PEM public key/);
    assertStartupFailure({ publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }, /not a valid PEM public key/);
    assertStartupFailure({ publicKey: Buffer.from('garbage') }, /not a valid PEM public key/);
  });
});

describe('createJwtKey defaults', () => {
  it('pins HS256 for a secret, held as a secret KeyObject', () => {
    const { key, algorithms } = createJwtKey({ secret: TEST_SECRET });
    assert.deepEqual(algorithms, ['HS256']);
    assert.equal(key.type, 'secret');
    assert.equal(key.symmetricKeySize, Buffer.byteLength(TEST_SECRET));
  });

  it('keeps explicit HMAC algorithms for a secret', () => {
    assert.deepEqual(createJwtKey({ secret: TEST_SECRET, algorithms: ['HS384', 'HS512'] }).algorithms, ['HS384', 'HS512']);
  });

  it('pins RS256 for an RSA public key', () => {
    const { key, algorithms } = createJwtKey({ publicKey: rsa.publicKey });
    assert.deepEqual(algorithms, ['RS256']);
    assert.equal(key.type, 'public');
    assert.equal(key.asymmetricKeyType, 'rsa');
  });

  it('pins ES256 for a P-256 EC public key', () => {
    const { key, algorithms } = createJwtKey({ publicKey: ec.publicKey });
    assert.deepEqual(algorithms, ['ES256']);
    assert.equal(key.asymmetricKeyType, 'ec');
  });

  it('accepts the public key as a Buffer', () => {
    assert.deepEqual(createJwtKey({ publicKey: Buffer.from(rsa.publicKey) }).algorithms, ['RS256']);
  });

  it('verifies ES384 tokens with a P-384 key when no algorithms are set', async () => {
    const p384 = pemKeyPair('ec', 'P-384');
    const verifier = new JwtVerifier({ publicKey: p384.publicKey });
    const token = jwt.sign({ sub: '1' }, p384.privateKey, { algorithm: 'ES384', expiresIn: 60 });
    assert.equal((await verifier.verify(token)).sub, '1');
  });

  it('either verifies Ed25519 (EdDSA) tokens or refuses the key at startup', async () => {
    const ed = pemKeyPair('ed25519');
    let verifier: JwtVerifier;
    try {
      verifier = new JwtVerifier({ publicKey: ed.publicKey, algorithms: ['EdDSA' as never] });
    } catch (error) {
      assert.match((error as Error).message, /^WsAuthModule: /);
      return;
    }
    const input = `${b64url({ alg: 'EdDSA', typ: 'JWT' })}.${b64url({ sub: '1', exp: nowSeconds() + 60 })}`;
    const token = `${input}.${signWithKey(null, Buffer.from(input), ed.privateKey).toString('base64url')}`;
    assert.equal((await verifier.verify(token)).sub, '1');
  });
});

async function assertInvalidCredential(verifier: JwtVerifier, token: string) {
  await assert.rejects(
    async () => verifier.verify(token),
    (error: unknown) => {
      assert.ok(error instanceof WsRefusal, `expected a WsRefusal, got ${String(error)}`);
      assert.equal(error.reason, 'invalid_credential');
      assert.equal(error.status, 401);
      // The refusal travels to logs and bodies, so it must not quote the token.
      if (token.length >= 3) assert.ok(!`${error.message}${error.stack}${error.toBody()}`.includes(token));
      return true;
    },
  );
}

describe('JwtVerifier', () => {
  const verifier = new JwtVerifier({ secret: TEST_SECRET });
  const header = '{"alg":"HS256","typ":"JWT"}';
  const live = () => nowSeconds() + 300;

  it('resolves the claims of a valid token', async () => {
    const claims = await verifier.verify(signToken({ username: 'alice' }));
    assert.equal(claims.sub, '1');
    assert.equal(claims.username, 'alice');
    assert.deepEqual(claims.roles, ['user']);
    assert.equal(typeof claims.exp, 'number');
  });

  it('resolves RS256 claims with an RSA public key', async () => {
    const rsaVerifier = new JwtVerifier({ publicKey: rsa.publicKey });
    const token = jwt.sign({ sub: '7' }, rsa.privateKey, { algorithm: 'RS256', expiresIn: 60 });
    assert.equal((await rsaVerifier.verify(token)).sub, '7');
  });

  it('keeps a literal __proto__ claim as plain data', async () => {
    const claims = await verifier.verify(hmacSignedToken(header, `{"sub":"1","exp":${live()},"__proto__":{"roles":["admin"]}}`, TEST_SECRET));
    assert.equal(Object.getPrototypeOf(claims), Object.prototype);
    assert.equal(claims.roles, undefined);
  });

  const valid = signToken();
  const [h, p, s] = valid.split('.');
  const badTokens: Record<string, () => string> = {
    'alg none without signature': () => handMadeToken({ alg: 'none', typ: 'JWT' }, { sub: '1', exp: live() }),
    'alg None with a real HMAC signature': () => hmacSignedToken('{"alg":"None","typ":"JWT"}', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
    'alg HS512 (not pinned)': () => signToken({}, { algorithm: 'HS512' }),
    'alg RS256 against a secret': () => signToken({}, { algorithm: 'RS256' }, rsa.privateKey),
    'another secret': () => signToken({}, {}, 'another-secret-of-a-decent-length-0123456789'),
    'tampered payload': () =>
      `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), roles: ['admin'] })).toString('base64url')}.${s}`,
    'tampered signature': () => `${h}.${p}.${flipCharacter(s)}`,
    'truncated signature': () => `${h}.${p}.${s.slice(0, 20)}`,
    'removed signature': () => `${h}.${p}.`,
    'two segments': () => `${h}.${p}`,
    expired: () => signToken({}, { expiresIn: -60 }),
    'not yet valid': () => signToken({}, { notBefore: 60 }),
    'no exp': () => jwt.sign({ sub: '1' }, TEST_SECRET, { noTimestamp: true }),
    'non-string sub': () => hmacSignedToken(header, `{"sub":123,"exp":${live()}}`, TEST_SECRET),
    'payload is an array': () => hmacSignedToken(header, '[{"sub":"1"}]', TEST_SECRET),
    'payload is a number': () => hmacSignedToken(header, '42', TEST_SECRET),
    'payload is null': () => hmacSignedToken(header, 'null', TEST_SECRET),
    'header is a string': () => hmacSignedToken('"HS256"', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
    'header is an array': () => hmacSignedToken('["HS256"]', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
    'header is not JSON': () => hmacSignedToken('{alg:HS256', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
    garbage: () => 'abc',
    'a.b.c.d': () => 'a.b.c.d',
    'standard base64 characters': () => `${valid}==`,
    empty: () => '',
    oversized: () => signToken({ padding: 'x'.repeat(9000) }),
  };
  for (const [name, make] of Object.entries(badTokens)) {
    it(`refuses ${name} as invalid_credential`, () => assertInvalidCredential(verifier, make()));
  }

  it('refuses an HS256 token signed with the RSA public key PEM as HMAC secret', async () => {
    const rsaVerifier = new JwtVerifier({ publicKey: rsa.publicKey });
    await assertInvalidCredential(rsaVerifier, signToken({}, { algorithm: 'HS256' }, rsa.publicKey));
    await assertInvalidCredential(rsaVerifier, hmacSignedToken(header, `{"sub":"1","exp":${live()}}`, rsa.publicKey));
  });

  it('checks issuer and audience when configured', async () => {
    const pinned = new JwtVerifier({ secret: TEST_SECRET, issuer: 'https://id.example.test', audience: 'chat' });
    assert.equal((await pinned.verify(signToken({}, { issuer: 'https://id.example.test', audience: 'chat' }))).sub, '1');
    await assertInvalidCredential(pinned, signToken({}, { issuer: 'https://evil.example.test', audience: 'chat' }));
    await assertInvalidCredential(pinned, signToken({}, { issuer: 'https://id.example.test', audience: 'other' }));
    await assertInvalidCredential(pinned, signToken());
  });

  it('accepts a token without exp only when requireExpiration is false', async () => {
    const relaxed = new JwtVerifier({ secret: TEST_SECRET, requireExpiration: false });
    assert.equal((await relaxed.verify(jwt.sign({ sub: '1' }, TEST_SECRET, { noTimestamp: true }))).sub, '1');
    await assertInvalidCredential(relaxed, signToken({}, { expiresIn: -60 }));
  });

  it('tolerates clock skew only up to clockToleranceSeconds', async () => {
    const tolerant = new JwtVerifier({ secret: TEST_SECRET, clockToleranceSeconds: 30 });
    assert.equal((await tolerant.verify(signToken({}, { expiresIn: -10 }))).sub, '1');
    await assertInvalidCredential(tolerant, signToken({}, { expiresIn: -60 }));
    await assertInvalidCredential(verifier, signToken({}, { expiresIn: -10 }));
  });

  it('refuses a valid token longer than maxTokenLength', async () => {
    const token = signToken();
    await assertInvalidCredential(new JwtVerifier({ secret: TEST_SECRET, maxTokenLength: token.length - 1 }), token);
    assert.equal((await new JwtVerifier({ secret: TEST_SECRET, maxTokenLength: token.length }).verify(token)).sub, '1');
  });
});

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('signatureCheck: HMAC from precomputed pads', () => {
  it('agrees with createHmac for HS256/384/512, keys shorter, as long as and longer than the block', () => {
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      for (const keyLength of [1, 32, 63, 64, 65, 127, 128, 129, 300]) {
        const secret = randomBytes(keyLength);
        const check = signatureCheck(alg, createSecretKey(secret));
        for (const inputLength of [1, 40, 200]) {
          const input = `${randomBytes(inputLength).toString('base64url')}.${randomBytes(inputLength).toString('base64url')}`;
          const mac = createHmac(`sha${alg.slice(2)}`, secret)
            .update(input)
            .digest();
          const sent = mac.toString('base64url');
          assert.equal(check(input, sent), true, `${alg}, ${keyLength}-byte key`);
          const wrong = Buffer.from(mac);
          wrong[wrong.length - 1] ^= 1;
          assert.equal(check(input, wrong.toString('base64url')), false);
          assert.equal(check(input, mac.subarray(1).toString('base64url')), false);
          assert.equal(check(`${input}x`, sent), false);
        }
      }
    }
  });
});
