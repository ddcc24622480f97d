import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ExpiryScheduler, type Expiring } from '../../lib/connections/expiry-scheduler.js';

interface SchedulerInternals {
  readonly times: number[];
  readonly buckets: Map<number, Set<Expiring>>;
  readonly timer?: NodeJS.Timeout;
}

const internals = (scheduler: ExpiryScheduler) => scheduler as unknown as SchedulerInternals;

/** An item that records when it ticked, and can be awaited. */
class Probe implements Expiring {
  tickedAt?: number;
  readonly ticked: Promise<number>;
  private resolve!: (at: number) => void;

  constructor(readonly name = 'probe') {
    this.ticked = new Promise((resolve) => (this.resolve = resolve));
  }

  tick(): void {
    this.tickedAt = Date.now();
    this.resolve(this.tickedAt);
  }
}

function assertMinHeap(times: number[]): void {
  for (let i = 1; i < times.length; i++) assert.ok(times[(i - 1) >> 1] <= times[i], `heap order broken at ${i}`);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('ExpiryScheduler', () => {
  const made: ExpiryScheduler[] = [];
  const scheduler = () => {
    const created = new ExpiryScheduler();
    made.push(created);
    return created;
  };
  // Whatever a test leaves scheduled must not tick into the next one.
  afterEach(() => {
    for (const created of made.splice(0)) clearTimeout(internals(created).timer);
  });

  describe('deadlines that are not finite numbers', () => {
    for (const dueAt of [NaN, Infinity, -Infinity, '123' as unknown as number]) {
      it(`throws for ${String(dueAt)} and changes nothing`, () => {
        const expiry = scheduler();
        assert.throws(() => expiry.schedule(new Probe(), dueAt), RangeError);
        assert.equal(internals(expiry).times.length, 0);
        assert.equal(internals(expiry).buckets.size, 0);
        assert.equal(internals(expiry).timer, undefined);
      });
    }

    it('a NaN attempt never stalls the items already scheduled or scheduled after it', async () => {
      const expiry = scheduler();
      const before = new Probe('before');
      const after = new Probe('after');
      expiry.schedule(before, Date.now() + 50);
      // Swallowed as a careless caller would: the shared heap must not care.
      for (const bad of [NaN, Infinity]) {
        try {
          expiry.schedule(new Probe('bad'), bad);
        } catch {
          // expected
        }
      }
      expiry.schedule(after, Date.now() + 150);
      await within(Promise.all([before.ticked, after.ticked]), 1000, 'the good items');
      assert.ok(before.tickedAt! <= after.tickedAt!);
    });
  });

  describe('cancel leaves nothing behind', () => {
    it('keeps the heap bounded by the live buckets over 100,000 schedule/cancel pairs', () => {
      const expiry = scheduler();
      const { times, buckets } = internals(expiry);
      const now = Date.now();
      // Live connections that never end, so the idle reset never clears the heap.
      const residents = Array.from({ length: 20 }, (_, i) => {
        const resident = new Probe(`resident-${i}`);
        expiry.schedule(resident, now + 3_600_000 + i * 1000);
        return resident;
      });
      let largest = 0;
      for (let i = 0; i < 100_000; i++) {
        const item = new Probe();
        // Repeated keys (a reconnect landing in a bucket it emptied) and distinct keys (an hour of
        // 100 ms buckets), interleaved.
        const dueAt = i % 2 === 0 ? now + 60_000 + (i % 7) * 100 : now + 60_000 + (i % 36_000) * 100;
        const key = expiry.schedule(item, dueAt);
        expiry.cancel(item, key);
        largest = Math.max(largest, times.length);
      }
      assert.ok(largest <= 2 * residents.length + 2, `the heap reached ${largest} entries for ${residents.length} live buckets`);
      assert.ok(times.length <= 2 * residents.length + 1, `the heap holds ${times.length} entries`);
      assertMinHeap(times);
      assert.deepEqual(new Set(times), new Set(buckets.keys()), 'each heap time has its bucket and the other way round');
      assert.equal(times.length, new Set(times).size, 'no time twice in the heap');
    });

    it('keeps the heap bounded while items stay in a bucket that others keep leaving and joining', () => {
      const expiry = scheduler();
      const { times } = internals(expiry);
      const dueAt = Date.now() + 60_000;
      expiry.schedule(new Probe('resident'), dueAt + 10_000);
      for (let i = 0; i < 10_000; i++) {
        const item = new Probe();
        expiry.cancel(item, expiry.schedule(item, dueAt));
      }
      assert.ok(times.length <= 2, `the heap holds ${times.length} entries`);
    });

    it('keeps no timer and no heap once everything is cancelled', () => {
      const expiry = scheduler();
      const items = Array.from({ length: 50 }, (_, i) => new Probe(`item-${i}`));
      const keys = items.map((item, i) => expiry.schedule(item, Date.now() + 10_000 + i * 100));
      items.forEach((item, i) => expiry.cancel(item, keys[i]));
      assert.equal(internals(expiry).times.length, 0);
      assert.equal(internals(expiry).buckets.size, 0);
      assert.equal(internals(expiry).timer, undefined);
    });

    it('still ticks the live items in deadline order after compaction, and never a cancelled one', async () => {
      const expiry = scheduler();
      const start = Date.now();
      const live = [250, 50, 150].map((offset) => {
        const probe = new Probe(`live-${offset}`);
        expiry.schedule(probe, start + offset);
        return probe;
      });
      const cancelled: Probe[] = [];
      for (let i = 0; i < 1000; i++) {
        const probe = new Probe(`gone-${i}`);
        cancelled.push(probe);
        expiry.cancel(probe, expiry.schedule(probe, start + 10 + (i % 40) * 10));
      }
      await within(Promise.all(live.map((probe) => probe.ticked)), 2000, 'the live items');
      const [late, early, middle] = live.map((probe) => probe.tickedAt!);
      assert.ok(early <= middle && middle <= late, `ticked at +${early - start}, +${middle - start}, +${late - start}`);
      assert.ok(early >= start + 50 - 5, 'not before its deadline');
      assert.equal(cancelled.filter((probe) => probe.tickedAt !== undefined).length, 0);
      assert.equal(internals(expiry).times.length, 0);
    });
  });
});
