import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JwksVerifier } from '../../lib/jwt/jwks-verifier.js';
import { createTokenVerifier } from '../../lib/jwt/token-verifier.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import type { WsAuthJwtOptions } from '../../lib/index.js';

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
    await assert.rejects(new JwksVerifier({ jwksUri: JWKS }).verify('a.b.c'), { reason: 'unavailable' });
  });
});
