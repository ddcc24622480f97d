import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsRefusal } from '../../lib/index.js';
import { RevocationList } from '../../lib/revocations/revocation-list.js';
import { collector } from '../support/collector.js';

const NOW = 1_800_000_000_000;
const CUTOFF = NOW / 1000;
const HOUR = 3_600_000;

const subject = (name: string, cutoff = CUTOFF, expiresAt = NOW + HOUR) => ({ kind: 'subject', subject: name, cutoff, expiresAt }) as const;
const token = (jti: string, expiresAt = NOW + HOUR) => ({ kind: 'jti', jti, expiresAt }) as const;

describe('RevocationList', () => {
  it('covers nothing while empty', () => {
    const list = new RevocationList();
    assert.equal(list.covers('1', 'j', CUTOFF, NOW), false);
    assert.equal(list.covers(undefined, undefined, undefined, NOW), false);
    assert.equal(list.size, 0);
    assert.deepEqual(list.list(NOW), []);
  });

  describe('by subject', () => {
    const list = new RevocationList();
    list.add(subject('alice'), NOW);

    it('covers a credential issued before the cut-off second, or in that same second', () => {
      assert.equal(list.covers('alice', undefined, CUTOFF - 3600, NOW), true);
      assert.equal(list.covers('alice', undefined, CUTOFF, NOW), true);
    });

    it('does not cover one issued in a later second', () => {
      assert.equal(list.covers('alice', undefined, CUTOFF + 1, NOW), false);
    });

    it('counts a credential without a usable iat as issued before: revoked', () => {
      for (const issuedAt of [undefined, null, '9999999999', Number.NaN, {}, [CUTOFF + 1]]) {
        assert.equal(list.covers('alice', undefined, issuedAt, NOW), true, String(issuedAt));
      }
    });

    it('covers only that subject, matched exactly', () => {
      for (const other of ['bob', 'Alice', 'alice ', '', 'alic', '__proto__', 'toString']) assert.equal(list.covers(other, undefined, 0, NOW), false, other);
      assert.equal(list.covers(undefined, undefined, 0, NOW), false);
    });

    it('does not let an unrelated jti hide a revoked subject', () => {
      assert.equal(list.covers('alice', 'some-other-token', CUTOFF, NOW), true);
    });

    it('moves the cut-off forward on a later revocation, never back, and keeps the longer life', () => {
      const moving = new RevocationList();
      moving.add(subject('carol', CUTOFF, NOW + HOUR), NOW);
      moving.add(subject('carol', CUTOFF + 10, NOW + 2 * HOUR), NOW);
      assert.equal(moving.covers('carol', undefined, CUTOFF + 10, NOW), true);
      moving.add(subject('carol', CUTOFF - 100, NOW + 60_000), NOW);
      assert.equal(moving.covers('carol', undefined, CUTOFF + 10, NOW), true, 'an older revocation arriving late does not move the cut-off back');
      assert.deepEqual(moving.list(NOW), [subject('carol', CUTOFF + 10, NOW + 2 * HOUR)]);
      assert.equal(moving.size, 1);
    });

    it('forgets the subject at its expiresAt, by itself', () => {
      const expiring = new RevocationList();
      expiring.add(subject('dave', CUTOFF, NOW + 1000), NOW);
      assert.equal(expiring.covers('dave', undefined, CUTOFF, NOW + 999), true);
      assert.equal(expiring.covers('dave', undefined, CUTOFF, NOW + 1000), false);
      assert.equal(expiring.size, 0, 'dropped when met');
      assert.deepEqual(expiring.list(NOW + 1000), []);
    });
  });

  describe('by token id', () => {
    const list = new RevocationList();
    list.add(token('t-1'), NOW);

    it('covers that token whatever its subject or iat, and no other', () => {
      assert.equal(list.covers('alice', 't-1', CUTOFF + 100, NOW), true);
      assert.equal(list.covers(undefined, 't-1', undefined, NOW), true);
      for (const other of ['t-2', 'T-1', 't-1 ', '', '__proto__']) assert.equal(list.covers('alice', other, CUTOFF, NOW), false, other);
      assert.equal(list.covers('alice', undefined, CUTOFF, NOW), false);
    });

    it('keeps the later expiresAt when a token is revoked twice', () => {
      const twice = new RevocationList();
      twice.add(token('t', NOW + 5000), NOW);
      twice.add(token('t', NOW + 1000), NOW);
      assert.equal(twice.covers(undefined, 't', undefined, NOW + 4000), true);
      assert.deepEqual(twice.list(NOW), [token('t', NOW + 5000)]);
    });

    it('forgets the token at its expiresAt', () => {
      const expiring = new RevocationList();
      expiring.add(token('t', NOW + 1000), NOW);
      assert.equal(expiring.covers(undefined, 't', undefined, NOW + 999), true);
      assert.equal(expiring.covers(undefined, 't', undefined, NOW + 1000), false);
      assert.equal(expiring.size, 0);
    });
  });

  it('ignores a revocation that has already expired', () => {
    const list = new RevocationList();
    list.add(subject('erin', CUTOFF, NOW), NOW);
    list.add(token('t', NOW - 1), NOW);
    assert.equal(list.size, 0);
    assert.equal(list.covers('erin', 't', CUTOFF, NOW), false);
  });

  it('removes exactly the target it is given, and says whether it held one', () => {
    const list = new RevocationList();
    list.add(subject('same'), NOW);
    list.add(token('same'), NOW);
    assert.equal(list.remove({ subject: 'same' }), true);
    assert.equal(list.covers('same', undefined, CUTOFF, NOW), false);
    assert.equal(list.covers(undefined, 'same', undefined, NOW), true, 'a token id that happens to equal the subject stays revoked');
    assert.equal(list.remove({ subject: 'same' }), false);
    assert.equal(list.remove({ jti: 'same' }), true);
    assert.equal(list.size, 0);
  });

  it('replace() installs the whole set: what it lacks is no longer revoked, what expired is dropped', () => {
    const list = new RevocationList();
    list.add(subject('old'), NOW);
    list.add(token('old'), NOW);
    list.replace([subject('new'), token('new'), token('dead', NOW - 1), subject('dead', CUTOFF, NOW)], NOW);
    assert.equal(list.covers('old', 'old', CUTOFF, NOW), false);
    assert.equal(list.covers('new', undefined, CUTOFF, NOW), true);
    assert.equal(list.covers(undefined, 'new', undefined, NOW), true);
    assert.deepEqual(
      list
        .list(NOW)
        .map((entry) => (entry.kind === 'jti' ? `jti:${entry.jti}` : `subject:${entry.subject}`))
        .sort(),
      ['jti:new', 'subject:new'],
    );
  });

  it('refuses everything with 503 while the shared set is unknown, and answers again once it is read', () => {
    const list = new RevocationList();
    list.add(subject('known'), NOW);
    list.markUnknown();
    assert.throws(
      () => list.covers('anyone', undefined, CUTOFF + 1, NOW),
      (error: unknown) => error instanceof WsRefusal && error.status === 503,
    );
    // What it holds is still what it holds, for the sockets it must close meanwhile.
    assert.equal(list.matches('known', undefined, CUTOFF, NOW), true);
    list.replace([subject('known')], NOW);
    assert.equal(list.covers('anyone', undefined, CUTOFF + 1, NOW), false);
    assert.equal(list.covers('known', undefined, CUTOFF, NOW), true);
  });

  it('list() gives each live revocation once, in the shape of WsRevocation', () => {
    const list = new RevocationList();
    list.add(subject('s', CUTOFF, NOW + 2000), NOW);
    list.add(token('j', NOW + 3000), NOW);
    list.add(token('gone', NOW + 500), NOW);
    const entries = list.list(NOW + 1000);
    assert.deepEqual(
      entries.sort((a, b) => a.kind.localeCompare(b.kind)),
      [token('j', NOW + 3000), subject('s', CUTOFF, NOW + 2000)],
    );
  });

  it('drops expired entries as it is written, with no timer, so it holds little beyond what is live', () => {
    const list = new RevocationList();
    for (let i = 0; i < 100_000; i++) list.add(token(`early-${i}`, NOW + 1000), NOW);
    assert.equal(list.size, 100_000);
    // Every one of those has expired; 100,000 more arrive, none of them ever looked up.
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      list.add(token(`late-${i}`, NOW + HOUR), NOW + 2000);
      largest = Math.max(largest, list.size);
    }
    assert.ok(list.size < 150_000, `holds ${list.size} entries for 100,000 live ones`);
    assert.ok(largest < 200_000, `held ${largest} at most`);
    assert.equal(list.list(NOW + 2000).length, 100_000);
  });

  it('holds 100,000 token ids in bounded heap and answers 10,000 upgrade-path lookups right', () => {
    // A Map of 100k short strings is about 10 MB; a copy per entry, or a leak, is far above this.
    const HEAP_BOUND_BYTES = 40 * 1024 * 1024;
    const gc = collector();
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const list = new RevocationList();
    for (let i = 0; i < 100_000; i++) list.add(token(`mass-${i}`), NOW);
    gc?.();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < HEAP_BOUND_BYTES, `heap grew ${grown} bytes (${gc ? 'after gc' : 'no gc available'})`);
    assert.equal(list.size, 100_000);

    let revoked = 0;
    for (let i = 0; i < 10_000; i++) {
      const known = i % 2 === 0;
      const jti = known ? `mass-${(i * 7919) % 100_000}` : `live-${i}`;
      const covered = list.covers(`user-${i}`, jti, CUTOFF + 1, NOW);
      assert.equal(covered, known, jti);
      if (covered) revoked++;
    }
    assert.equal(revoked, 5000);
    // The lookups changed nothing.
    assert.equal(list.size, 100_000);
  });
});
