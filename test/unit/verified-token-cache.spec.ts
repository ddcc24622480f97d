import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';

const exp = 2_000_000_000;
const now = (exp - 60) * 1000;
const claimsOf = (sub: string) => ({ sub, exp });
const tail = 'S'.repeat(43);

describe('VerifiedTokenCache: found by the tail, matched whole', () => {
  it('never answers a token with the claims of another that ends in the same characters', () => {
    const cache = new VerifiedTokenCache(0);
    const alice = `alice.header.${tail}`;
    const mallory = `mallory.header.${tail}`;
    cache.set(alice, JSON.stringify(claimsOf('alice')), claimsOf('alice'), now);
    assert.equal(cache.get(mallory, now), undefined);
    assert.equal(cache.get(alice, now)?.sub, 'alice');
  });

  it('lets the later of two such tokens take the slot, in either generation, and counts one entry', () => {
    const cache = new VerifiedTokenCache(0, 4);
    const first = `first.${tail}`;
    const second = `second.${tail}`;
    cache.set(first, JSON.stringify(claimsOf('first')), claimsOf('first'), now);
    // Two more entries turn the first over into the old generation.
    cache.set('a', JSON.stringify(claimsOf('a')), claimsOf('a'), now);
    cache.set('b', JSON.stringify(claimsOf('b')), claimsOf('b'), now);
    cache.set(second, JSON.stringify(claimsOf('second')), claimsOf('second'), now);
    assert.equal(cache.get(first, now), undefined);
    assert.equal(cache.get(second, now)?.sub, 'second');
    cache.set(first, JSON.stringify(claimsOf('first')), claimsOf('first'), now);
    assert.equal(cache.get(second, now), undefined);
    assert.equal(cache.get(first, now)?.sub, 'first');
    assert.ok(cache.size <= 4);
  });

  it('matches short tokens whole too', () => {
    const cache = new VerifiedTokenCache(0);
    cache.set('t', JSON.stringify(claimsOf('t')), claimsOf('t'), now);
    assert.equal(cache.get('t', now)?.sub, 't');
    assert.equal(cache.get('u', now), undefined);
  });
});
