import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { JwksVerifier } from '../../lib/jwt/jwks-verifier.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { checkedClaims, parseCompactToken, parseTokenOf, tokenRulesOf } from '../../lib/jwt/token-shape.js';
import { hmacSignedToken } from '../support/forged-tokens.js';
import { generateSigningKey, JwksServer, signWith } from '../support/jwks-server.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const HS256 = '{"alg":"HS256","typ":"JWT"}';
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const refused = { reason: 'invalid_credential' };

/** A correctly signed token, so only the checks under test can refuse it. */
const signed = (header: string, payload: string) => hmacSignedToken(header, payload, TEST_SECRET);
const livePayload = () => JSON.stringify({ sub: '1', username: 'alice', exp: nowSeconds() + 300 });

describe('parseCompactToken: the protected header', () => {
  it('passes an ordinary header', () => {
    parseCompactToken(signToken(), 8192);
    parseCompactToken(signed('{"alg":"HS256","b64":true}', livePayload()), 8192);
  });

  it('refuses any crit, since no critical extension is understood (RFC 7515 section 4.1.11)', () => {
    for (const crit of ['["exp"]', '[]', '["b64"]', '"exp"', 'null', '{}']) {
      assert.throws(() => parseCompactToken(signed(`{"alg":"HS256","crit":${crit}}`, livePayload()), 8192), refused, crit);
    }
  });

  it('refuses b64 other than true (RFC 7797), with or without crit', () => {
    for (const header of [
      '{"alg":"HS256","b64":false}',
      '{"alg":"HS256","b64":false,"crit":["b64"]}',
      '{"alg":"HS256","b64":"false"}',
      '{"alg":"HS256","b64":null}',
    ]) {
      assert.throws(() => parseCompactToken(signed(header, livePayload()), 8192), refused, header);
    }
  });

  it('refuses a header that is not a JSON object', () => {
    for (const header of ['[]', '["alg"]', 'null', '"HS256"', '42', 'true', '{"alg":"HS256"', 'not json', '\u00ff\u00fe']) {
      assert.throws(() => parseCompactToken(`${b64(header)}.${b64(livePayload())}.c2ln`, 8192), refused, header);
    }
  });

  it('refuses before decoding anything when the token is too long or not three segments', () => {
    assert.throws(() => parseCompactToken(signToken(), 10), refused);
    assert.throws(() => parseCompactToken('a.b', 8192), refused);
  });
});

describe('parseTokenOf(access): a topic token is no access token (RFC 8725 section 3.11)', () => {
  const topicTypes = ['topic+jwt', 'TOPIC+JWT', 'application/topic+jwt', 'Application/Topic+JWT'];

  it('refuses a header typ naming a topic token, in any spelling RFC 7515 section 4.1.9 allows', () => {
    for (const typ of topicTypes) {
      assert.throws(() => parseTokenOf('access', signed(JSON.stringify({ alg: 'HS256', typ }), livePayload()), 8192), refused, typ);
    }
  });

  it('passes other types, and none at all', () => {
    for (const header of [HS256, '{"alg":"HS256"}', '{"alg":"HS256","typ":"at+jwt"}', '{"alg":"HS256","typ":"topic"}', '{"alg":"HS256","typ":["topic+jwt"]}']) {
      assert.equal(parseTokenOf('access', signed(header, livePayload()), 8192).header.alg, 'HS256', header);
    }
  });

  it('is refused by the static-key verifier though signed with its key, and never reaches the signature check', () => {
    const verifier = new JwtVerifier({ secret: TEST_SECRET });
    const internals = verifier as unknown as { verifyToken: (parsed: unknown) => unknown };
    const original = internals.verifyToken;
    let signatureChecks = 0;
    internals.verifyToken = (parsed) => {
      signatureChecks += 1;
      return original(parsed);
    };
    for (const typ of topicTypes) {
      const token = signed(JSON.stringify({ alg: 'HS256', typ }), livePayload());
      assert.throws(
        () => verifier.verify(token),
        (error: unknown) =>
          (error as { reason?: string }).reason === 'invalid_credential' && !`${(error as Error).message}${(error as Error).stack}`.includes(token),
        typ,
      );
    }
    assert.equal(signatureChecks, 0);
    assert.equal(verifier.verify(signed(HS256, livePayload())).username, 'alice');
  });
});

describe('checkedClaims: NumericDate claims', () => {
  it('passes finite dates, and tokens without them when exp is not required', () => {
    const exp = nowSeconds() + 60;
    assert.equal(checkedClaims({ exp, nbf: exp - 120, iat: exp - 120.5 }, true).exp, exp);
    assert.deepEqual(checkedClaims({ sub: 'a' }, false), { sub: 'a' });
  });

  it('refuses exp, nbf or iat that is not a finite number', () => {
    for (const name of ['exp', 'nbf', 'iat']) {
      for (const value of [Infinity, -Infinity, NaN, '123', null, true, [1], 1e13]) {
        const claims = { exp: nowSeconds() + 60, [name]: value };
        assert.throws(() => checkedClaims(claims, false), refused, `${name}: ${String(value)}`);
      }
    }
  });

  it('refuses a token without exp when exp is required', () => {
    assert.throws(() => checkedClaims({ sub: 'a' }, true), refused);
  });
});

describe('verifiers over the same checks', () => {
  const verifier = new JwtVerifier({ secret: TEST_SECRET });

  it('jsonwebtoken would take exp 1e309 for a token that never expires; the verifier refuses it', () => {
    const token = signed(HS256, '{"sub":"1","exp":1e309}');
    assert.throws(() => verifier.verify(token), refused);
    assert.throws(() => verifier.verify(signed(HS256, '{"sub":"1","exp":4102444800,"nbf":-1e309}')), refused);
  });

  it('refuses crit and b64:false signed with the right key, which jsonwebtoken ignores', () => {
    for (const header of ['{"alg":"HS256","crit":["exp"]}', '{"alg":"HS256","crit":[]}', '{"alg":"HS256","b64":false}']) {
      assert.throws(() => verifier.verify(signed(header, livePayload())), refused, header);
    }
    assert.equal(verifier.verify(signed(HS256, livePayload())).username, 'alice');
  });

  describe('through jose, with a JWKS', () => {
    const idp = new JwksServer();
    const key = generateSigningKey('RS256');
    let jwks: JwksVerifier;
    const claims = { iss: 'https://idp.example.test', aud: 'chat' };
    before(async () => {
      idp.keys = [key];
      await idp.start();
      jwks = new JwksVerifier({ jwksUri: idp.url, issuer: claims.iss, audience: claims.aud });
      await jwks.init();
    });
    after(() => idp.stop());

    it('control: accepts a token the provider signed', async () => {
      assert.equal((await jwks.verify(await signWith(key, claims))).username, 'alice');
    });

    /** RS256 over the exact header and payload text, as an attacker holding no key cannot, but a buggy issuer might. */
    const rsSigned = (header: Record<string, unknown>, payloadJson: string) => {
      const signingInput = `${b64(JSON.stringify({ alg: 'RS256', kid: key.kid, ...header }))}.${b64(payloadJson)}`;
      return `${signingInput}.${createSign('RSA-SHA256').update(signingInput).sign(key.privateKey).toString('base64url')}`;
    };
    const payload = (exp: string | number = nowSeconds() + 300) =>
      `{"iss":"${claims.iss}","aud":"${claims.aud}","sub":"idp-1","username":"alice","exp":${exp}}`;

    it('control: accepts the same hand-signed token with a plain header', async () => {
      assert.equal((await jwks.verify(rsSigned({}, payload()))).username, 'alice');
    });

    it('refuses b64: false without crit, which jose ignores and would verify as usual', async () => {
      await assert.rejects(async () => jwks.verify(rsSigned({ b64: false }, payload())), refused);
    });

    it('refuses crit (jose refuses it too: kept as a guard)', async () => {
      await assert.rejects(async () => jwks.verify(rsSigned({ crit: ['exp'] }, payload())), refused);
      await assert.rejects(async () => jwks.verify(rsSigned({ crit: [] }, payload())), refused);
    });

    it('refuses a topic token signed by the provider (typ topic+jwt)', async () => {
      for (const typ of ['topic+jwt', 'application/TOPIC+jwt']) {
        await assert.rejects(async () => jwks.verify(rsSigned({ typ }, payload())), refused, typ);
      }
      assert.equal((await jwks.verify(rsSigned({ typ: 'at+jwt' }, payload()))).username, 'alice');
    });

    it('refuses exp 1e309, which jose takes for a number that is never reached', async () => {
      await assert.rejects(async () => jwks.verify(rsSigned({}, payload('1e309'))), refused);
    });
  });
});

describe('tokenRulesOf: options that would switch a check off', () => {
  it('refuses a clock tolerance that is not a finite number of seconds, 0 or more', () => {
    for (const clockToleranceSeconds of [NaN, Infinity, -1, '5', null]) {
      assert.throws(() => tokenRulesOf({ secret: 's', clockToleranceSeconds: clockToleranceSeconds as never }), /clockToleranceSeconds/);
      assert.throws(() => new JwtVerifier({ secret: TEST_SECRET, clockToleranceSeconds: clockToleranceSeconds as never }), /clockToleranceSeconds/);
    }
  });

  it('refuses a token length limit that is no limit', () => {
    for (const maxTokenLength of [NaN, Infinity, 0, -1, 1.5, '100']) {
      assert.throws(() => tokenRulesOf({ secret: 's', maxTokenLength: maxTokenLength as never }), /maxTokenLength/);
    }
  });

  it('keeps the defaults, and requires exp unless requireExpiration is exactly false', () => {
    assert.deepEqual(tokenRulesOf({ secret: 's' }), { maxTokenLength: 8192, clockToleranceSeconds: 0, requireExpiration: true });
    assert.equal(tokenRulesOf({ secret: 's', requireExpiration: 0 as never }).requireExpiration, true);
    assert.equal(tokenRulesOf({ secret: 's', requireExpiration: false, clockToleranceSeconds: 2.5 }).clockToleranceSeconds, 2.5);
    assert.equal(new JwtVerifier({ secret: TEST_SECRET, clockToleranceSeconds: 5 }).clockToleranceSeconds, 5);
  });
});
