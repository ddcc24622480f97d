import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';
import { flipCharacter, hmacSignedToken } from '../support/forged-tokens.js';
import { handMadeToken, nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const refused = (error: unknown) => error instanceof WsRefusal && error.reason === 'invalid_credential';
const payloadOf = (token: string) => Buffer.from(token.split('.')[1], 'base64url').toString();

/** A cache keeps a token from the second time it is offered: offers it twice. */
function keep(cache: VerifiedTokenCache, token: string, claims: Parameters<VerifiedTokenCache['set']>[1], now: number): void {
  cache.set(token, claims, now);
  cache.set(token, claims, now);
}

/** Counts the full verifications, i.e. the cache misses. */
function countingVerifier(options: ConstructorParameters<typeof JwtVerifier>[0] = { secret: TEST_SECRET }, size?: number) {
  const verifier = new JwtVerifier(options, size);
  const inner = verifier as unknown as { verifyToken: (token: string) => unknown };
  const original = inner.verifyToken;
  const calls = { count: 0 };
  inner.verifyToken = (token) => {
    calls.count += 1;
    return original(token);
  };
  return { verifier, calls };
}

describe('VerifiedTokenCache', () => {
  const exp = 2_000_000_000;
  const claims = { sub: '1', exp, nbf: exp - 600 };
  const compact = (signature: string) => handMadeToken({ alg: 'HS256' }, claims, signature);
  const t = compact('t'.repeat(43));
  const tokens = (...names: string[]) => names.map((name) => compact(name.repeat(43)));

  it('returns a fresh copy of the claims on every hit', () => {
    const cache = new VerifiedTokenCache(0);
    keep(cache, t, claims, (exp - 60) * 1000);
    const first = cache.get(t, (exp - 60) * 1000)!;
    first.sub = 'mallory';
    (first as Record<string, unknown>).roles = ['admin'];
    assert.deepEqual(cache.get(t, (exp - 60) * 1000), claims);
  });

  it('ends an entry at exp + tolerance, exactly when the verifier would, and drops it', () => {
    const cache = new VerifiedTokenCache(5);
    keep(cache, t, claims, (exp - 60) * 1000);
    assert.ok(cache.get(t, (exp + 5) * 1000 - 1));
    assert.equal(cache.get(t, (exp + 5) * 1000), undefined);
    assert.equal(cache.size, 0);
  });

  it('compares nbf again on every hit: a clock stepped back misses', () => {
    const cache = new VerifiedTokenCache(0);
    keep(cache, t, claims, (exp - 60) * 1000);
    assert.equal(cache.get(t, (exp - 601) * 1000), undefined);
  });

  it('does not store a token outside its validity', () => {
    const cache = new VerifiedTokenCache(0);
    const [u] = tokens('u');
    keep(cache, t, claims, exp * 1000);
    keep(cache, u, claims, (exp - 601) * 1000);
    assert.equal(cache.size, 0);
  });

  it('keeps what was used recently and drops the rest beyond maxEntries', () => {
    const cache = new VerifiedTokenCache(0, 2);
    const now = (exp - 60) * 1000;
    const [a, b, c] = tokens('a', 'b', 'c');
    keep(cache, a, claims, now);
    keep(cache, b, claims, now);
    cache.get(a, now);
    keep(cache, c, claims, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(b, now), undefined);
    assert.ok(cache.get(a, now) && cache.get(c, now));
  });

  it('drops entries beyond maxCharacters, and never stores one larger than that', () => {
    const [a, b, c] = tokens('a', 'b', 'c');
    const cache = new VerifiedTokenCache(0, 100, a.length * 2 + 2);
    const now = (exp - 60) * 1000;
    keep(cache, a, claims, now);
    keep(cache, b, claims, now);
    keep(cache, c, claims, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(a, now), undefined);
    keep(cache, compact('x'.repeat(a.length * 3)), claims, now);
    assert.equal(cache.size, 2);
  });

  it('clear() forgets everything, the tokens verified once too', () => {
    const cache = new VerifiedTokenCache(0);
    const [u] = tokens('u');
    keep(cache, t, claims, (exp - 60) * 1000);
    cache.set(u, claims, (exp - 60) * 1000);
    cache.clear();
    assert.equal(cache.get(t, (exp - 60) * 1000), undefined);
    cache.set(u, claims, (exp - 60) * 1000);
    assert.equal(cache.size, 0);
  });

  it('keeps a token only from the second time it is offered: a stream of tokens seen once holds nothing', () => {
    const cache = new VerifiedTokenCache(0);
    const now = (exp - 60) * 1000;
    const once = Array.from({ length: 2000 }, (_, i) => compact(`once-${i}`.padStart(43, 'o')));
    for (const token of once) cache.set(token, claims, now);
    assert.equal(cache.size, 0);
    assert.equal(cache.get(once[0], now), undefined);
    // Seen again: kept, and hit from then on.
    cache.set(once[1999], claims, now);
    assert.equal(cache.size, 1);
    assert.equal(cache.get(once[1999], now)?.sub, '1');
  });
});

describe('JwtVerifier with its cache of verified tokens', () => {
  afterEach(() => mock.timers.reset());

  it('verifies a token in full twice, then answers the same token from the cache with equal claims', () => {
    const { verifier, calls } = countingVerifier();
    const token = signToken({ jti: 'one' });
    const first = verifier.verify(token);
    verifier.verify(token);
    const third = verifier.verify(token);
    const fourth = verifier.verify(token);
    assert.equal(calls.count, 2);
    assert.deepEqual(third, first);
    assert.deepEqual(fourth, first);
    assert.notEqual(third, fourth);
  });

  it('keys by the exact token: another spelling or another token is verified in full', () => {
    const { verifier, calls } = countingVerifier();
    const token = signToken();
    verifier.verify(token);
    verifier.verify(token);
    assert.throws(() => verifier.verify(`${token.split('.').slice(0, 2).join('.')}.${flipCharacter(token.split('.')[2])}`), refused);
    assert.throws(() => verifier.verify(` ${token}`), refused);
    assert.equal(calls.count, 3);
  });

  it('never stores a refusal', () => {
    const { verifier, calls } = countingVerifier();
    const expired = signToken({}, { expiresIn: -1 });
    const forged = hmacSignedToken('{"alg":"HS256"}', `{"sub":"1","exp":${nowSeconds() + 60}}`, 'another-secret');
    for (let i = 0; i < 3; i += 1) {
      assert.throws(() => verifier.verify(expired), refused);
      assert.throws(() => verifier.verify(forged), refused);
    }
    assert.equal(verifier.verifiedTokens.size, 0);
    assert.equal(calls.count, 6);
  });

  it('refuses a cached token once exp + tolerance is reached, and re-checks nbf on a hit', () => {
    const { verifier } = countingVerifier({ secret: TEST_SECRET, clockToleranceSeconds: 2 });
    const exp = nowSeconds() + 60;
    const token = hmacSignedToken('{"alg":"HS256"}', JSON.stringify({ sub: '1', exp, nbf: exp - 120 }), TEST_SECRET);
    verifier.verify(token);
    verifier.verify(token);
    assert.equal(verifier.verifiedTokens.size, 1);
    mock.timers.enable({ apis: ['Date'], now: (exp + 2) * 1000 - 1 });
    assert.equal(verifier.verify(token).sub, '1');
    mock.timers.setTime((exp + 2) * 1000);
    assert.throws(() => verifier.verify(token), refused);
    mock.timers.reset();
    verifier.verify(token);
    verifier.verify(token);
    assert.equal(verifier.verifiedTokens.size, 1);
    mock.timers.enable({ apis: ['Date'], now: (exp - 123) * 1000 });
    assert.throws(() => verifier.verify(token), refused);
  });

  it('caches a token without exp (requireExpiration: false), as it verifies the same forever under a static key', () => {
    const { verifier, calls } = countingVerifier({ secret: TEST_SECRET, requireExpiration: false });
    const token = hmacSignedToken('{"alg":"HS256"}', '{"sub":"1"}', TEST_SECRET);
    verifier.verify(token);
    verifier.verify(token);
    verifier.verify(token);
    assert.equal(calls.count, 2);
  });

  it('verifies in full again after clear(), which the owner of the keys calls when they change', () => {
    const { verifier, calls } = countingVerifier();
    const token = signToken();
    verifier.verify(token);
    verifier.verify(token);
    verifier.verifiedTokens.clear();
    verifier.verify(token);
    assert.equal(calls.count, 3);
  });

  it('is off with a size of 0', () => {
    const { verifier, calls } = countingVerifier({ secret: TEST_SECRET }, 0);
    const token = signToken();
    verifier.verify(token);
    verifier.verify(token);
    verifier.verify(token);
    assert.equal(calls.count, 3);
  });

  it('keeps a literal __proto__ claim as plain data on a hit too', () => {
    const { verifier } = countingVerifier();
    const token = hmacSignedToken('{"alg":"HS256"}', `{"sub":"1","exp":${nowSeconds() + 60},"__proto__":{"roles":["admin"]}}`, TEST_SECRET);
    verifier.verify(token);
    verifier.verify(token);
    const hit = verifier.verify(token);
    assert.equal(verifier.verifiedTokens.size, 1);
    assert.equal(Object.getPrototypeOf(hit), Object.prototype);
    assert.equal(hit.roles, undefined);
    assert.equal(payloadOf(token).includes('__proto__'), true);
  });
});
