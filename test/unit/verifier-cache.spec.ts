import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { keyOf, VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';
import { flipCharacter, hmacSignedToken } from '../support/forged-tokens.js';
import { handMadeToken, keepVerified, nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const refused = (error: unknown) => error instanceof WsRefusal && error.reason === 'invalid_credential';
const payloadOf = (token: string) => Buffer.from(token.split('.')[1], 'base64url').toString();

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
    keepVerified(cache, t, claims, (exp - 60) * 1000);
    const first = cache.get(t, (exp - 60) * 1000)!;
    first.sub = 'mallory';
    (first as Record<string, unknown>).roles = ['admin'];
    assert.deepEqual(cache.get(t, (exp - 60) * 1000), claims);
  });

  it('ends an entry at exp + tolerance, exactly when the verifier would, and drops it', () => {
    const cache = new VerifiedTokenCache(5);
    keepVerified(cache, t, claims, (exp - 60) * 1000);
    assert.ok(cache.get(t, (exp + 5) * 1000 - 1));
    assert.equal(cache.get(t, (exp + 5) * 1000), undefined);
    assert.equal(cache.size, 0);
  });

  it('compares nbf again on every hit: a clock stepped back misses', () => {
    const cache = new VerifiedTokenCache(0);
    keepVerified(cache, t, claims, (exp - 60) * 1000);
    assert.equal(cache.get(t, (exp - 601) * 1000), undefined);
  });

  it('does not store a token outside its validity', () => {
    const cache = new VerifiedTokenCache(0);
    const [u] = tokens('u');
    keepVerified(cache, t, claims, exp * 1000);
    keepVerified(cache, u, claims, (exp - 601) * 1000);
    assert.equal(cache.size, 0);
  });

  it('keeps what was used recently and drops the rest beyond maxEntries', () => {
    const cache = new VerifiedTokenCache(0, 2);
    const now = (exp - 60) * 1000;
    const [a, b, c] = tokens('a', 'b', 'c');
    keepVerified(cache, a, claims, now);
    keepVerified(cache, b, claims, now);
    cache.get(a, now);
    keepVerified(cache, c, claims, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(b, now), undefined);
    assert.ok(cache.get(a, now) && cache.get(c, now));
  });

  it('drops entries beyond maxCharacters, and never stores one larger than that', () => {
    const [a, b, c] = tokens('a', 'b', 'c');
    const cache = new VerifiedTokenCache(0, 100, a.length * 2 + 2);
    const now = (exp - 60) * 1000;
    keepVerified(cache, a, claims, now);
    keepVerified(cache, b, claims, now);
    keepVerified(cache, c, claims, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(a, now), undefined);
    keepVerified(cache, compact('x'.repeat(a.length * 3)), claims, now);
    assert.equal(cache.size, 2);
  });

  it('clear() forgets everything, the tokens verified once too', () => {
    const cache = new VerifiedTokenCache(0);
    const [u] = tokens('u');
    keepVerified(cache, t, claims, (exp - 60) * 1000);
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

const live = (claims: Record<string, unknown> = {}) => ({ sub: '1', exp: nowSeconds() + 300, ...claims });
const hs = (claims: Record<string, unknown>, alg = 'HS256') =>
  hmacSignedToken(JSON.stringify({ alg }), JSON.stringify(claims), TEST_SECRET, `sha${alg.slice(2)}`);
const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1);
const withSignature = (token: string, signature: string) => `${token.slice(0, token.lastIndexOf('.'))}.${signature}`;
const subjectOf = (token: string) => JSON.parse(payloadOf(token)).sub as string;

/**
 * Two validly signed tokens, one of each kind, whose cache keys are the same: tokens of both
 * kinds are made in turn until one of each shares a 30-bit key (about 33,000 each).
 */
function collidingTokens(kindA: (i: number) => string, kindB: (i: number) => string): [string, string] {
  const keysA = new Map<number, string>();
  const keysB = new Map<number, string>();
  for (let i = 0; i < 400_000; i += 1) {
    const a = kindA(i);
    const b = kindB(i);
    const matchA = keysB.get(keyOf(a));
    if (matchA !== undefined) return [a, matchA];
    const matchB = keysA.get(keyOf(b));
    if (matchB !== undefined) return [matchB, b];
    keysA.set(keyOf(a), a);
    keysB.set(keyOf(b), b);
  }
  throw new Error('no colliding pair within 400,000 tokens of each kind');
}

describe('the cache of verified tokens under attack (tokens that share a key, forgeries of a cached token)', () => {
  const exp = nowSeconds() + 300;
  const [first, second] = collidingTokens(
    (i) => hs({ sub: `a${i}`, exp }),
    (i) => hs({ sub: `b${i}`, exp }),
  );

  it('the colliding pair really shares a slot: keeping one evicts the other', () => {
    const cache = new VerifiedTokenCache(0);
    const now = Date.now();
    keepVerified(cache, first, JSON.parse(payloadOf(first)), now);
    assert.equal(cache.size, 1);
    keepVerified(cache, second, JSON.parse(payloadOf(second)), now);
    assert.equal(cache.size, 1);
    assert.equal(cache.get(first, now), undefined);
    assert.equal(cache.get(second, now)?.sub, subjectOf(second));
  });

  it('never answers a token with the claims of another of the same key, whichever was verified first', () => {
    const { verifier, calls } = countingVerifier();
    for (let i = 0; i < 3; i += 1) assert.equal(verifier.verify(first).sub, subjectOf(first));
    assert.equal(calls.count, 2);
    // The first verification of `second` finds its key noted by `first` and keeps it at once:
    // harmless, as it was verified in full, but nothing of `first` may answer for it.
    assert.equal(verifier.verify(second).sub, subjectOf(second));
    assert.equal(calls.count, 3);
    for (const token of [second, first, first, second]) assert.equal(verifier.verify(token).sub, subjectOf(token));
    // second's signature on first's payload shares the key: refused every time.
    const forged = withSignature(first, signatureOf(second));
    for (let i = 0; i < 3; i += 1) assert.throws(() => verifier.verify(forged), refused);
  });

  it('refuses tokens that share a cached token’s last 43 characters, and they neither evict it nor get kept', () => {
    const { verifier, calls } = countingVerifier({ secret: TEST_SECRET, algorithms: ['HS512'] });
    const victim = hs(live({ sub: 'victim' }), 'HS512');
    for (let i = 0; i < 3; i += 1) verifier.verify(victim);
    assert.equal(calls.count, 2);
    const [header, payload, signature] = victim.split('.');
    const forgeries = [
      // HS512's MAC is 86 characters: its first 43 are out of the key's reach.
      withSignature(victim, `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`),
      // Another payload under the same signature: the whole tail is the same.
      `${header}.${Buffer.from(JSON.stringify(live({ sub: 'mallory', admin: true }))).toString('base64url')}.${signature}`,
      // A header with a member the issuer never signed.
      `${Buffer.from(JSON.stringify({ alg: 'HS512', kid: 'x' })).toString('base64url')}.${payload}.${signature}`,
    ];
    for (const forged of forgeries) {
      assert.equal(keyOf(forged), keyOf(victim));
      for (let i = 0; i < 3; i += 1) assert.throws(() => verifier.verify(forged), refused);
    }
    assert.equal(calls.count, 2 + forgeries.length * 3, 'every forgery verified in full, every time');
    assert.equal(verifier.verify(victim).sub, 'victim');
    assert.equal(calls.count, 2 + forgeries.length * 3, 'the victim still answered from the cache');
    assert.equal(verifier.verifiedTokens.size, 1);
  });

  it('never keeps a token refused on its claims, even when a good token of the same key has noted it', () => {
    // Both validly signed; only the audience tells them apart.
    const [good, wrongAudience] = collidingTokens(
      (i) => hs({ sub: `g${i}`, aud: 'chat', exp }),
      (i) => hs({ sub: `w${i}`, aud: 'other', exp }),
    );
    const { verifier } = countingVerifier({ secret: TEST_SECRET, audience: 'chat' });
    verifier.verify(good);
    for (let i = 0; i < 3; i += 1) assert.throws(() => verifier.verify(wrongAudience), refused);
    assert.equal(verifier.verifiedTokens.size, 0);
    // The good token's second verification finds its key still noted: kept.
    verifier.verify(good);
    assert.equal(verifier.verifiedTokens.size, 1);
  });

  it('holds at most maxEntries under a stream of tokens each verified twice', () => {
    const { verifier } = countingVerifier({ secret: TEST_SECRET }, 64);
    for (let i = 0; i < 3000; i += 1) {
      const token = hs({ sub: `s${i}`, exp });
      verifier.verify(token);
      if (i % 2 === 0) verifier.verify(token);
      assert.ok(verifier.verifiedTokens.size <= 64, `size ${verifier.verifiedTokens.size} after ${i}`);
    }
  });
});
