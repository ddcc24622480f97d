import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { MemoryTicketStore, WsRefusal } from '../../lib/index.js';

describe('MemoryTicketStore', () => {
  it('gives a value back once', async () => {
    const store = new MemoryTicketStore();
    await store.put('k', 'v', 1000);
    assert.equal(await store.take('k'), 'v');
    assert.equal(await store.take('k'), undefined);
  });

  it('hands out a value to exactly one of many concurrent takes', async () => {
    const store = new MemoryTicketStore();
    await store.put('k', 'v', 1000);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.take('k')));
    assert.equal(results.filter((value) => value === 'v').length, 1);
  });

  it('forgets expired entries, on take and by sweeping on write', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const store = new MemoryTicketStore();
      await store.put('old', 'v', 100);
      mock.timers.tick(101);
      assert.equal(await store.take('old'), undefined);
      await store.put('a', 'v', 100);
      await store.put('b', 'v', 100);
      mock.timers.tick(101);
      await store.put('c', 'v', 100);
      assert.equal(store.size, 1);
    } finally {
      mock.timers.reset();
    }
  });

  it('is bounded: a full store refuses with 503 until entries expire', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const store = new MemoryTicketStore(2);
      await store.put('long', 'v', 10_000);
      await store.put('short', 'v', 100);
      await assert.rejects(store.put('third', 'v', 100), (error) => error instanceof WsRefusal && error.status === 503);
      mock.timers.tick(101);
      // 'short' expired behind a live entry: only a full sweep finds it.
      await store.put('third', 'v', 100);
      assert.equal(store.size, 2);
    } finally {
      mock.timers.reset();
    }
  });

  it('rejects a nonsensical bound at construction', () => {
    assert.throws(() => new MemoryTicketStore(0), /maxEntries/);
  });

  describe('per subject', () => {
    const alice = { subject: 'alice', max: 3 };
    const bob = { subject: 'bob', max: 3 };

    it("keeps at most max of a subject's tickets, dropping the oldest; others are untouched", async () => {
      const store = new MemoryTicketStore();
      await store.put('b1', 'bob', 1000, bob);
      for (let i = 1; i <= 5; i++) await store.put(`a${i}`, `v${i}`, 1000, alice);
      assert.equal(store.size, 4);
      assert.equal(await store.take('a1'), undefined);
      assert.equal(await store.take('a2'), undefined);
      assert.equal(await store.take('a3'), 'v3');
      assert.equal(await store.take('a4'), 'v4');
      assert.equal(await store.take('a5'), 'v5');
      assert.equal(await store.take('b1'), 'bob');
    });

    it('counts only unredeemed tickets: a taken one frees its place', async () => {
      const store = new MemoryTicketStore();
      for (const key of ['a1', 'a2', 'a3']) await store.put(key, key, 1000, alice);
      assert.equal(await store.take('a2'), 'a2');
      await store.put('a4', 'a4', 1000, alice);
      for (const key of ['a1', 'a3', 'a4']) assert.equal(await store.take(key), key);
    });

    it('lets a capped subject issue in a full store, at the expense of their own oldest', async () => {
      const store = new MemoryTicketStore(3);
      for (const key of ['a1', 'a2', 'a3']) await store.put(key, key, 1000, alice);
      await store.put('a4', 'a4', 1000, alice);
      assert.equal(await store.take('a1'), undefined);
      await assert.rejects(store.put('b1', 'b1', 1000, bob), (error) => error instanceof WsRefusal && error.status === 503);
    });

    it('keeps no per-subject state once every ticket is taken', async () => {
      const store = new MemoryTicketStore();
      await store.put('a1', 'v', 1000, alice);
      await store.put('a2', 'v', 1000, alice);
      await store.put('b1', 'v', 1000, bob);
      assert.equal(store.subjects, 2);
      for (const key of ['a1', 'a2', 'b1']) await store.take(key);
      assert.equal(store.subjects, 0);
      assert.equal(store.size, 0);
    });

    it('keeps no per-subject state once tickets expire and are swept', async () => {
      mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
      try {
        const store = new MemoryTicketStore();
        await store.put('a1', 'v', 100, alice);
        await store.put('a2', 'v', 100, alice);
        mock.timers.tick(101);
        assert.equal(await store.take('a1'), undefined);
        await store.put('u1', 'v', 100);
        assert.equal(store.subjects, 0);
        assert.equal(store.size, 1);
      } finally {
        mock.timers.reset();
      }
    });

    it('drops down to a lowered cap', async () => {
      const store = new MemoryTicketStore();
      for (const key of ['a1', 'a2', 'a3']) await store.put(key, key, 1000, alice);
      await store.put('a4', 'a4', 1000, { subject: 'alice', max: 1 });
      assert.equal(store.size, 1);
      assert.equal(await store.take('a4'), 'a4');
    });

    it('refuses a nonsensical cap', async () => {
      const store = new MemoryTicketStore();
      for (const max of [0, -1, 1.5, Number.NaN]) await assert.rejects(store.put('k', 'v', 1000, { subject: 's', max }), /owner\.max/);
    });
  });
});
