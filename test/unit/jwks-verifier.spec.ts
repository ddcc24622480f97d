import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { JwksVerifier } from '../../lib/jwt/jwks-verifier.js';
import { createTokenVerifier } from '../../lib/jwt/token-verifier.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import type { WsAuthJwtOptions } from '../../lib/index.js';
import { generateSigningKey, JwksServer, signWith } from '../support/jwks-server.js';

const JWKS = 'https://id.example.test/.well-known/jwks.json';

function refuses(options: WsAuthJwtOptions, message: RegExp) {
  assert.throws(() => new JwksVerifier(options), message);
}

describe('JwksVerifier options', () => {
  it('is chosen when jwksUri is set', () => {
    assert.ok(createTokenVerifier({ jwksUri: JWKS }) instanceof JwksVerifier);
    assert.ok(createTokenVerifier({ secret: 'a-secret' }) instanceof JwtVerifier);
  });

  it('refuses a JWKS together with a secret or a public key', () => {
    refuses({ jwksUri: JWKS, secret: 'a-secret' }, /exclusive/);
    refuses({ jwksUri: JWKS, publicKey: 'pem' }, /exclusive/);
  });

  it('refuses a URL that is not http(s)', () => {
    refuses({ jwksUri: 'not a url' }, /not a valid URL/);
    refuses({ jwksUri: 'file:///etc/jwks.json' }, /https/);
  });

  it('refuses HMAC and none, and an empty algorithm list', () => {
    refuses({ jwksUri: JWKS, algorithms: ['HS256'] }, /HS256 cannot be used/);
    refuses({ jwksUri: JWKS, algorithms: ['none' as never] }, /none cannot be used/);
    refuses({ jwksUri: JWKS, algorithms: [] }, /must not be empty/);
  });

  it('refuses audience patterns, which jose cannot check', () => {
    refuses({ jwksUri: JWKS, audience: /chat/ }, /audience must be strings/);
    assert.ok(new JwksVerifier({ jwksUri: JWKS, audience: ['chat', 'admin'] }));
  });

  it('refuses cache, cooldown and timeout durations that are not positive whole milliseconds', () => {
    for (const jwks of [{ cacheMaxAgeMs: 0 }, { cooldownMs: -1 }, { timeoutMs: Number.NaN }, { timeoutMs: 1500.5 }]) {
      refuses({ jwksUri: JWKS, jwks }, /must be a positive whole number/);
    }
  });

  it('refuses every token with 503 before init, never accepting', async () => {
    await assert.rejects(async () => new JwksVerifier({ jwksUri: JWKS }).verify('a.b.c'), { reason: 'unavailable' });
  });
});

describe('JwksVerifier: keys jose picked, kept for synchronous checks', () => {
  const idp = new JwksServer();
  const first = generateSigningKey('RS256');
  const second = generateSigningKey('ES256');
  const claims = { iss: 'https://idp.example.test', aud: 'chat' };
  // A short cache age, so a rotation is seen after a bounded wait.
  const cacheMaxAgeMs = 40;
  let verifier: JwksVerifier;
  before(async () => {
    idp.keys = [first, second];
    await idp.start();
    verifier = new JwksVerifier({
      jwksUri: idp.url,
      issuer: claims.iss,
      audience: claims.aud,
      algorithms: ['RS256', 'ES256'],
      jwks: { cacheMaxAgeMs, cooldownMs: 1 },
    });
    await verifier.init();
  });
  after(() => idp.stop());

  const refused = { reason: 'invalid_credential' };
  const expired = () => sleep(cacheMaxAgeMs + 10);

  it('verifies through jose once per kid, then synchronously, and refuses a bad signature under a kept key', async () => {
    for (const key of [first, second]) {
      const viaJose = verifier.verify(await signWith(key, claims));
      assert.ok(viaJose instanceof Promise);
      assert.equal((await viaJose).username, 'alice');
      const kept = verifier.verify(await signWith(key, { ...claims, jti: 'another' }));
      assert.equal(kept instanceof Promise ? 'promise' : kept.username, 'alice');
      const forged = (await signWith(key, claims, {}, { expiresIn: '6m' })).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
      await assert.rejects(async () => verifier.verify(forged), refused);
      await assert.rejects(async () => verifier.verify(await signWith(key, { ...claims, aud: 'billing' })), refused);
    }
  });

  it('refuses a payload led by a byte order mark on every path, the cache included', async () => {
    // jose's decoder drops a leading BOM; JSON.parse, as the synchronous path and the cache read
    // claims, does not. Signed by the provider's own key, so only the payload is odd.
    const key = generateSigningKey('RS256');
    idp.keys = [first, second, key];
    await expired();
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: key.kid })).toString('base64url');
    const body = JSON.stringify({ sub: 'idp-1', ...claims, exp: Math.floor(Date.now() / 1000) + 300 });
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]).toString('base64url');
    const token = `${header}.${payload}.${createSign('RSA-SHA256').update(`${header}.${payload}`).sign(key.privateKey, 'base64url')}`;
    // Through jose (the key is new), then synchronously (the key is now kept).
    await assert.rejects(async () => verifier.verify(token), refused);
    await assert.rejects(async () => verifier.verify(token), refused);
    idp.keys = [first, second];
    await expired();
  });

  it('a key the provider removed verifies nothing once the set is fetched again, cached tokens included', async () => {
    await expired();
    idp.keys = [first, second];
    const token = await signWith(first, claims);
    assert.equal((await verifier.verify(token)).username, 'alice');
    assert.equal((await verifier.verify(token)).username, 'alice');
    idp.keys = [second];
    await expired();
    await assert.rejects(async () => verifier.verify(token), refused);
    // Another token learns the new set through jose; the removed key's tokens stay refused.
    assert.equal((await verifier.verify(await signWith(second, claims))).username, 'alice');
    await assert.rejects(async () => verifier.verify(token), refused);
    await assert.rejects(async () => verifier.verify(await signWith(first, { ...claims, jti: 'later' })), refused);
  });
});
