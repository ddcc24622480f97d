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
});
