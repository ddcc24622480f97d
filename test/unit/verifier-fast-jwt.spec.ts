import assert from 'node:assert/strict';
import { constants, createHmac, createPublicKey, createSign, generateKeyPairSync, sign as signWithKey, type KeyObject } from 'node:crypto';
import { afterEach, describe, it, mock } from 'node:test';
import { createVerifier } from 'fast-jwt';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';
import type { WsAuthJwtOptions } from '../../lib/ws-auth-options.interface.js';
import { hmacSignedToken, pemKeyPair } from '../support/forged-tokens.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const HS256 = '{"alg":"HS256","typ":"JWT"}';
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const rsa = pemKeyPair('rsa');

/** A verifier without the cache, so every call below goes through the full verification (node:crypto and the checks around it). */
const uncached = (options: WsAuthJwtOptions) => new JwtVerifier(options, 0);
/** fast-jwt alone, configured the way a jsonwebtoken user would guess. */
const bareFastJwt = (options: Record<string, unknown> = {}) =>
  createVerifier({ key: TEST_SECRET, algorithms: ['HS256'], ...options }) as (token: string) => Record<string, unknown>;
const signed = (payload: Record<string, unknown> | string, header = HS256) =>
  hmacSignedToken(header, typeof payload === 'string' ? payload : JSON.stringify(payload), TEST_SECRET);

function assertRefused(verifier: JwtVerifier, token: string, what = token) {
  assert.throws(
    () => verifier.verify(token),
    (error: unknown) => error instanceof WsRefusal && error.reason === 'invalid_credential' && !`${error.message}${error.stack}`.includes(token),
    what,
  );
}

function rsSigned(header: Record<string, unknown>, payload: Record<string, unknown>, privateKey: string | KeyObject, alg = 'RS256'): string {
  const input = `${b64({ alg, ...header })}.${b64(payload)}`;
  return `${input}.${createSign(`RSA-SHA${alg.slice(2)}`)
    .update(input)
    .sign(privateKey)
    .toString('base64url')}`;
}

/** Moves the last character of a segment by `step` within the base64url alphabet. */
function bumpLast(segment: string, step: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return segment.slice(0, -1) + alphabet[(alphabet.indexOf(segment.at(-1)!) + step) % 64];
}

describe('fast-jwt behaviours that differ from jsonwebtoken (fast-jwt kept as a reference), and how the verifier holds the old line', () => {
  afterEach(() => mock.timers.reset());

  it('clockTolerance is milliseconds in fast-jwt: the verifier converts clockToleranceSeconds', () => {
    const tenSecondsLate = signToken({}, { expiresIn: -10 });
    assert.throws(() => bareFastJwt({ clockTolerance: 30 })(tenSecondsLate), { code: 'FAST_JWT_EXPIRED' });
    assert.equal(uncached({ secret: TEST_SECRET, clockToleranceSeconds: 30 }).verify(tenSecondsLate).sub, '1');
    assertRefused(uncached({ secret: TEST_SECRET, clockToleranceSeconds: 30 }), signToken({}, { expiresIn: -31 }));
  });

  it('fast-jwt admits a token at the very millisecond of exp; the verifier refuses it (RFC 7519 section 4.1.4)', () => {
    const exp = nowSeconds() + 60;
    const token = signed({ sub: '1', exp });
    mock.timers.enable({ apis: ['Date'], now: exp * 1000 });
    assert.equal(bareFastJwt()(token).sub, '1');
    assertRefused(uncached({ secret: TEST_SECRET }), token);
    mock.timers.setTime(exp * 1000 - 1);
    assert.equal(uncached({ secret: TEST_SECRET }).verify(token).sub, '1');
  });

  it('refuses exp equal to now in whole seconds, as jsonwebtoken does', () => {
    assertRefused(uncached({ secret: TEST_SECRET }), signed({ sub: '1', exp: nowSeconds() }));
    assertRefused(uncached({ secret: TEST_SECRET, requireExpiration: false }), signed({ sub: '1', exp: nowSeconds() }));
  });

  it('refuses nbf in the future, and admits it within the clock tolerance or once reached', () => {
    const nbf = nowSeconds() + 20;
    const token = signed({ sub: '1', exp: nbf + 300, nbf });
    assertRefused(uncached({ secret: TEST_SECRET }), token);
    assert.equal(uncached({ secret: TEST_SECRET, clockToleranceSeconds: 30 }).verify(token).sub, '1');
    mock.timers.enable({ apis: ['Date'], now: nbf * 1000 });
    assert.equal(uncached({ secret: TEST_SECRET }).verify(token).sub, '1');
    mock.timers.setTime(nbf * 1000 - 1);
    assertRefused(uncached({ secret: TEST_SECRET }), token);
  });

  it('admits iat in the future, as jsonwebtoken and jose do without a maximum age (a decision: see the report)', () => {
    // An issuer a second ahead stamps iat in our future; revocation tests rely on iat = now + 1.
    assert.equal(uncached({ secret: TEST_SECRET }).verify(signed({ sub: '1', iat: nowSeconds() + 3600, exp: nowSeconds() + 3900 })).sub, '1');
  });

  it('refuses exp, nbf and iat that are not numbers (fast-jwt: invalid claim type; ours: finite dates)', () => {
    const verifier = uncached({ secret: TEST_SECRET, requireExpiration: false });
    const exp = nowSeconds() + 60;
    for (const payload of [
      `{"sub":"1","exp":"${exp}"}`,
      '{"sub":"1","exp":null}',
      '{"sub":"1","exp":[1]}',
      `{"sub":"1","exp":${exp},"nbf":"0"}`,
      `{"sub":"1","exp":${exp},"iat":"0"}`,
      `{"sub":"1","exp":${exp},"iat":1e400}`,
    ]) {
      assertRefused(verifier, signed(payload), payload);
    }
  });

  it('fast-jwt skips iss and aud a token lacks; the verifier requires them when configured, as jsonwebtoken did', () => {
    const bare = signed({ sub: '1', exp: nowSeconds() + 60 });
    assert.equal(bareFastJwt({ allowedIss: 'https://id.example.test', allowedAud: 'chat' })(bare).sub, '1');
    assertRefused(uncached({ secret: TEST_SECRET, issuer: 'https://id.example.test' }), bare);
    assertRefused(uncached({ secret: TEST_SECRET, audience: 'chat' }), bare);
    assertRefused(uncached({ secret: TEST_SECRET, audience: /^chat/ }), bare);
  });

  it('ignores kid, jku, x5u and an embedded jwk: the configured key alone verifies', () => {
    const verifier = uncached({ publicKey: rsa.publicKey });
    const claims = { sub: '1', exp: nowSeconds() + 60 };
    assert.equal(verifier.verify(rsSigned({ kid: '../../../dev/null', jku: 'https://evil.test/jwks' }, claims, rsa.privateKey)).sub, '1');
    // jose's and jsonwebtoken's "embedded jwk" negative: the attacker's own key, in the header.
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    assertRefused(verifier, rsSigned({ jwk, kid: 'attacker', x5u: 'https://evil.test/cert' }, claims, attacker.privateKey));
  });

  it('does not read typ: "JWT", "at+jwt" (RFC 9068) and none at all are accepted, as before', () => {
    const verifier = uncached({ secret: TEST_SECRET });
    const claims = { sub: '1', exp: nowSeconds() + 60 };
    for (const header of [HS256, '{"alg":"HS256","typ":"at+jwt"}', '{"alg":"HS256"}', '{"alg":"HS256","typ":"application/jose"}']) {
      assert.equal(verifier.verify(signed(claims, header)).sub, '1', header);
    }
  });

  it('refuses alg none and its spellings, signed or not, and an alg that is not a string', () => {
    const verifier = uncached({ secret: TEST_SECRET });
    const claims = JSON.stringify({ sub: '1', exp: nowSeconds() + 60 });
    for (const alg of ['none', 'None', 'NONE', 'nOnE', ['HS256'], null, 'hs256', 'HS256 ']) {
      const header = JSON.stringify({ alg, typ: 'JWT' });
      assertRefused(verifier, signed(claims, header), header);
      assertRefused(verifier, `${b64(header)}.${b64(claims)}.`, `${header} unsigned`);
    }
  });

  it('refuses crit whatever fast-jwt would make of it (it accepts a crit it is told to allow)', () => {
    const token = signed({ sub: '1', exp: nowSeconds() + 60 }, '{"alg":"HS256","crit":["urn:x"],"urn:x":1}');
    assert.equal(bareFastJwt({ allowedCritHeaders: ['urn:x'] })(token).sub, '1');
    assertRefused(uncached({ secret: TEST_SECRET }), token);
  });
});

describe('ported negative cases (jsonwebtoken, jose) on the fast-jwt verifier', () => {
  const live = () => nowSeconds() + 300;

  describe('algorithm confusion', () => {
    const verifier = uncached({ publicKey: rsa.publicKey });
    const payload = () => JSON.stringify({ sub: '1', username: 'mallory', exp: live() });

    it('refuses HS256 signed with the RSA public key as the secret: PEM, trimmed PEM, DER, JWK JSON', () => {
      const key = createPublicKey(rsa.publicKey);
      const secrets: Array<[string, string | Buffer]> = [
        ['PEM', rsa.publicKey],
        ['trimmed PEM', rsa.publicKey.trim()],
        ['PKCS#1 PEM', key.export({ type: 'pkcs1', format: 'pem' }) as string],
        ['DER', key.export({ type: 'spki', format: 'der' })],
        ['JWK JSON', JSON.stringify(key.export({ format: 'jwk' }))],
      ];
      for (const [what, secret] of secrets) {
        for (const hash of ['sha256', 'sha384', 'sha512']) {
          const header = `{"alg":"HS${hash.slice(3)}","typ":"JWT"}`;
          assertRefused(verifier, hmacSignedToken(header, payload(), secret, hash), `${what}, ${header}`);
        }
      }
    });

    it('refuses RS256 against a secret, ES256 against an RSA key, and RS256 against an EC key', () => {
      assertRefused(uncached({ secret: TEST_SECRET }), signToken({}, { algorithm: 'RS256' }, rsa.privateKey));
      const ec = pemKeyPair('ec');
      assertRefused(verifier, signToken({}, { algorithm: 'ES256' }, ec.privateKey));
      assertRefused(uncached({ publicKey: ec.publicKey }), signToken({}, { algorithm: 'RS256' }, rsa.privateKey));
    });

    it('refuses PS256 against an RSA key pinned to RS256, and RS256 when PS256 is pinned', () => {
      assertRefused(verifier, signToken({}, { algorithm: 'PS256' }, rsa.privateKey));
      const ps = uncached({ publicKey: rsa.publicKey, algorithms: ['PS256'] });
      assert.equal(ps.verify(signToken({}, { algorithm: 'PS256' }, rsa.privateKey)).sub, '1');
      assertRefused(ps, signToken({}, { algorithm: 'RS256' }, rsa.privateKey));
    });
  });

  describe('ECDSA signatures (jose)', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const verifier = uncached({ publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) });
    const input = () => `${b64({ alg: 'ES256' })}.${b64({ sub: '1', exp: live() })}`;

    it('control: accepts a raw r||s signature (RFC 7518 section 3.4)', () => {
      const data = input();
      const signature = signWithKey('sha256', Buffer.from(data), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
      assert.equal(verifier.verify(`${data}.${signature.toString('base64url')}`).sub, '1');
    });

    it('refuses a DER signature, and r = s = 0 (CVE-2022-21449)', () => {
      const data = input();
      assertRefused(verifier, `${data}.${signWithKey('sha256', Buffer.from(data), ec.privateKey).toString('base64url')}`, 'DER');
      assertRefused(verifier, `${data}.${Buffer.alloc(64).toString('base64url')}`, 'zero');
    });
  });

  describe('canonical base64url (RFC 7515 section 2)', () => {
    const verifier = uncached({ secret: TEST_SECRET });

    it('fast-jwt accepts a signature whose unused last bits are set; the verifier refuses it', () => {
      const [header, payload, signature] = signToken().split('.');
      assert.equal(signature.length % 4, 3, 'an HS256 signature leaves 2 unused bits');
      const respelled = `${header}.${payload}.${bumpLast(signature, 1)}`;
      assert.equal(bareFastJwt()(respelled).sub, '1');
      assertRefused(verifier, respelled);
    });

    it('refuses a respelled header or payload signed as spelled, a lone trailing character, padding, + and /', () => {
      const header = [0, 1, 2, 3].map((n) => b64({ alg: 'HS256', kid: 'k'.repeat(n) })).find((each) => each.length % 4 !== 0)!;
      for (let extra = 0; extra < 3; extra += 1) {
        const payload = b64({ sub: '1', exp: live(), pad: 'x'.repeat(extra) });
        if (payload.length % 4 === 0) continue;
        assert.equal(verifier.verify(macSigned(header, payload)).sub, '1');
        // The MAC covers the respelled text, so only the spelling can be what refuses it.
        const respelled = macSigned(header, bumpLast(payload, 1));
        assert.equal(bareFastJwt()(respelled).sub, '1');
        assertRefused(verifier, respelled, `payload length ${payload.length % 4} mod 4`);
      }
      assertRefused(verifier, macSigned(bumpLast(header, 1), b64({ sub: '1', exp: live() })), 'header');
      const [h, p, s] = signToken().split('.');
      assertRefused(verifier, `${h}.${p}.${s}=`, 'padding');
      assertRefused(verifier, `${h}=.${p}.${s}`, 'header padding');
      assertRefused(verifier, `${h}.${p}.${s}A`, 'lone character');
      assertRefused(verifier, macSigned(h, `${p}+/`), '+ and /');
    });
  });

  describe('issuer and audience', () => {
    const issuer = 'https://id.example.test';
    const claims = (extra: Record<string, unknown>) => signed({ sub: '1', exp: live(), iss: issuer, ...extra });

    it('accepts an aud array holding the audience, and refuses one that does not, an empty one, or a non-string member', () => {
      const verifier = uncached({ secret: TEST_SECRET, audience: 'chat' });
      assert.equal(verifier.verify(claims({ aud: ['billing', 'chat'] })).sub, '1');
      for (const aud of [['billing'], [], ['CHAT'], 'chat ', [123, 'chat'], { chat: true }, null]) {
        assertRefused(verifier, claims({ aud }), JSON.stringify(aud));
      }
    });

    it('matches a configured list and RegExps, a global RegExp on every call', () => {
      const verifier = uncached({ secret: TEST_SECRET, audience: [/^chat-(eu|us)$/g, 'admin'] });
      for (let round = 0; round < 3; round += 1) assert.equal(verifier.verify(claims({ aud: 'chat-eu', jti: `r${round}` })).sub, '1');
      assert.equal(verifier.verify(claims({ aud: ['x', 'admin'] })).sub, '1');
      assertRefused(verifier, claims({ aud: 'chat-asia' }));
    });

    it('refuses an issuer that differs by case, by a trailing slash, or comes as an array', () => {
      const verifier = uncached({ secret: TEST_SECRET, issuer });
      assert.equal(verifier.verify(claims({})).sub, '1');
      for (const iss of [issuer.toUpperCase(), `${issuer}/`, [issuer], 42, null, '']) {
        assertRefused(verifier, claims({ iss }), JSON.stringify(iss));
      }
      const either = uncached({ secret: TEST_SECRET, issuer: ['https://a.test', issuer] });
      assert.equal(either.verify(claims({})).sub, '1');
      assertRefused(either, claims({ iss: 'https://b.test' }));
    });
  });

  describe('RSA-PSS keys (which fast-jwt cannot read as such)', () => {
    it('verifies PS256 with a key restricted to SHA-256, and refuses to pin anything else to it', () => {
      const pss = pssKeyPair({ modulusLength: 2048, hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha256', saltLength: 32 });
      const publicKey = pss.publicKey.export({ type: 'spki', format: 'pem' });
      const verifier = uncached({ publicKey });
      assert.equal(verifier.verify(pssToken({ sub: 'pss', exp: live() }, pss.privateKey, 'sha256')).sub, 'pss');
      assert.throws(() => uncached({ publicKey, algorithms: ['PS384'] }), /cannot verify PS384/);
      assert.throws(() => uncached({ publicKey, algorithms: ['RS256'] }), /cannot verify RS256/);
    });

    it('refuses at startup a key whose restrictions no PS algorithm meets', () => {
      const odd = pssKeyPair({ modulusLength: 2048, hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha512' });
      assert.throws(() => uncached({ publicKey: odd.publicKey.export({ type: 'spki', format: 'pem' }) }), /RSA-PSS public key is restricted/);
    });

    it('verifies the PS algorithms pinned for an unrestricted key', () => {
      const pss = pssKeyPair({ modulusLength: 2048 });
      const verifier = uncached({ publicKey: pss.publicKey.export({ type: 'spki', format: 'pem' }), algorithms: ['PS256', 'PS512'] });
      const claims = { sub: 'free', exp: live() };
      assert.equal(verifier.verify(pssToken(claims, pss.privateKey, 'sha256')).sub, 'free');
      assert.equal(verifier.verify(pssToken(claims, pss.privateKey, 'sha512')).sub, 'free');
      assertRefused(verifier, pssToken(claims, pss.privateKey, 'sha384'));
    });
  });
});

// @types/node 20 lacks hashAlgorithm and mgf1HashAlgorithm, which Node 20 takes.
function pssKeyPair(options: { modulusLength: number } & Record<string, unknown>) {
  return generateKeyPairSync('rsa-pss', options);
}

/** HMAC over the exact text given, however it spells its bytes. */
function macSigned(header: string, payload: string): string {
  return `${header}.${payload}.${createHmac('sha256', TEST_SECRET).update(`${header}.${payload}`).digest('base64url')}`;
}

function pssToken(claims: Record<string, unknown>, privateKey: KeyObject, hash: 'sha256' | 'sha384' | 'sha512'): string {
  const input = `${b64({ alg: `PS${hash.slice(3)}` })}.${b64(claims)}`;
  const signature = signWithKey(hash, Buffer.from(input), { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(hash.slice(3)) / 8 });
  return `${input}.${signature.toString('base64url')}`;
}
