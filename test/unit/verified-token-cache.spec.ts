import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import { handMadeToken } from '../support/tokens.js';

const exp = 2_000_000_000;
const now = (exp - 60) * 1000;
// The cache never checks a signature (its owner did): any compact token carrying the claims will do.
const compact = (claims: Record<string, unknown>, signature = 'S'.repeat(43)) => handMadeToken({ alg: 'HS256' }, claims, signature);

describe('VerifiedTokenCache: the exact token text, nothing else', () => {
  it('never answers a token with the claims of another that ends in the same characters', () => {
    const cache = new VerifiedTokenCache(0);
    const alice = compact({ sub: 'alice', exp });
    const mallory = compact({ sub: 'mallory', exp });
    cache.set(alice, { sub: 'alice', exp }, now);
    assert.equal(cache.get(mallory, now), undefined);
    assert.equal(cache.get(alice, now)?.sub, 'alice');
  });

  it('answers with the claims the token carries, decoded again on every hit', () => {
    const cache = new VerifiedTokenCache(0);
    const token = compact({ sub: 'alice', exp, roles: ['user'] });
    cache.set(token, { sub: 'alice', exp, roles: ['user'] }, now);
    const first = cache.get(token, now)!;
    (first.roles as string[]).push('admin');
    assert.deepEqual(cache.get(token, now), { sub: 'alice', exp, roles: ['user'] });
    assert.notEqual(cache.get(token, now), cache.get(token, now));
  });

  it('moves a token hit in the old generation back to the young one, and counts it once', () => {
    const cache = new VerifiedTokenCache(0, 4);
    const first = compact({ sub: 'first', exp });
    cache.set(first, { sub: 'first', exp }, now);
    // Two more entries turn the first over into the old generation.
    cache.set(compact({ sub: 'a', exp }), { exp }, now);
    cache.set(compact({ sub: 'b', exp }), { exp }, now);
    assert.equal(cache.get(first, now)?.sub, 'first');
    cache.set(first, { sub: 'first', exp }, now);
    assert.equal(cache.size, 3);
    // Two more: the hit token is young again and survives this turnover; 'a' does not.
    cache.set(compact({ sub: 'c', exp }), { exp }, now);
    assert.equal(cache.get(first, now)?.sub, 'first');
    assert.equal(cache.get(compact({ sub: 'a', exp }), now), undefined);
    assert.ok(cache.size <= 4);
  });
});
