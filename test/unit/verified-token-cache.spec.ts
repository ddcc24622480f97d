import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import { handMadeToken, keepVerified } from '../support/tokens.js';

const exp = 2_000_000_000;
const now = (exp - 60) * 1000;
// The cache never checks a signature (its owner did): any compact token carrying the claims will do.
const compact = (claims: Record<string, unknown>, signature = 'S'.repeat(43)) => handMadeToken({ alg: 'HS256' }, claims, signature);

describe('VerifiedTokenCache: found by the tail, matched whole', () => {
  it('never answers a token with the claims of another that ends in the same characters', () => {
    const cache = new VerifiedTokenCache(0);
    const alice = compact({ sub: 'alice', exp });
    const mallory = compact({ sub: 'mallory', exp });
    keepVerified(cache, alice, { sub: 'alice', exp }, now);
    assert.equal(cache.get(mallory, now), undefined);
    assert.equal(cache.get(alice, now)?.sub, 'alice');
  });

  it('answers with the claims the token carries, parsed again on every hit', () => {
    const cache = new VerifiedTokenCache(0);
    const token = compact({ sub: 'alice', exp, roles: ['user'] });
    keepVerified(cache, token, { sub: 'alice', exp, roles: ['user'] }, now);
    const first = cache.get(token, now)!;
    (first.roles as string[]).push('admin');
    assert.deepEqual(cache.get(token, now), { sub: 'alice', exp, roles: ['user'] });
    assert.notEqual(cache.get(token, now), cache.get(token, now));
  });

  it('moves a token hit in the old generation back to the young one, and counts it once', () => {
    const cache = new VerifiedTokenCache(0, 4);
    const token = (sub: string) => compact({ sub, exp }, sub.padEnd(43, '-'));
    keepVerified(cache, token('first'), { sub: 'first', exp }, now);
    // Two more entries turn the first over into the old generation.
    keepVerified(cache, token('a'), { exp }, now);
    keepVerified(cache, token('b'), { exp }, now);
    assert.equal(cache.get(token('first'), now)?.sub, 'first');
    keepVerified(cache, token('first'), { sub: 'first', exp }, now);
    assert.equal(cache.size, 3);
    // One more: the hit token is young again and survives this turnover; 'a' does not.
    keepVerified(cache, token('c'), { exp }, now);
    assert.equal(cache.get(token('first'), now)?.sub, 'first');
    assert.equal(cache.get(token('a'), now), undefined);
    assert.ok(cache.size <= 4);
  });

  it('answers every hit alike while a token that came back keeps its payload and the generations turn over', () => {
    const first = compact({ sub: 'first', exp }, 'f'.repeat(43));
    const second = compact({ sub: 'second', exp }, 's'.repeat(43));
    const payload = Buffer.from(first.split('.')[1], 'base64url').toString().length;
    // Room for both tokens, but not for both and a payload: the first hit turns the young generation over.
    const cache = new VerifiedTokenCache(0, 100, (first.length + second.length + payload - 1) * 2);
    keepVerified(cache, first, { sub: 'first', exp }, now);
    keepVerified(cache, second, { sub: 'second', exp }, now);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(first, now)?.sub, 'first');
    assert.equal(cache.get(first, now)?.sub, 'first');
    assert.equal(cache.get(second, now)?.sub, 'second');
    assert.equal(cache.get(first, now)?.sub, 'first');
    assert.equal(cache.size, 2);
  });

  it('keeps a token whose payload would not fit beside it as its text alone, and still answers it', () => {
    const token = compact({ sub: 'long', exp, note: 'n'.repeat(200) });
    // A generation's share of the bound holds the token, not the token and its payload.
    const cache = new VerifiedTokenCache(0, 100, (token.length + 10) * 2);
    keepVerified(cache, token, { sub: 'long', exp }, now);
    assert.equal(cache.get(token, now)?.sub, 'long');
    assert.equal(cache.get(token, now)?.sub, 'long');
    assert.equal(cache.size, 1);
  });
});
