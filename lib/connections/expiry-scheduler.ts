/** Something with a deadline: `tick()` runs once it is due and decides what comes next. */
export interface Expiring {
  tick(): void;
}

// Deadlines are grouped in 100 ms buckets: one Node timer serves every connection, and a
// closed connection leaves nothing behind (a per-connection unref'd timer would leave an empty
// timer list per distinct delay until that delay elapsed). A tick is at most 100 ms late.
const BUCKET_MS = 100;
// setTimeout's ceiling (about 24.8 days); the timer is simply re-armed past it.
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Every bucket time is in the heap exactly once, and every heap time has its bucket in the map,
 * possibly emptied by `cancel`. An emptied bucket stays until it is reached or the heap is
 * compacted, so a connection that comes back to the same bucket reuses its heap entry, and
 * the heap never holds more than twice the live buckets: reconnect churn cannot grow it.
 */
export class ExpiryScheduler {
  private readonly buckets = new Map<number, Set<Expiring>>();
  // Bucket times in a binary min-heap.
  private readonly times: number[] = [];
  // Buckets in the map (and times in the heap) that hold no item.
  private empty = 0;
  private timer?: NodeJS.Timeout;
  private armedFor = Infinity;

  /**
   * Schedules `item` for `dueAt` (epoch ms); returns the key `cancel` needs. A `dueAt` that is
   * not a finite number throws before anything changes: NaN compares false with every time,
   * so at the top of the heap it would stop every other connection's expiry; and read as "due
   * now", an item that reschedules from the same bad value on every tick would spin the timer.
   */
  schedule(item: Expiring, dueAt: number): number {
    if (!Number.isFinite(dueAt)) throw new RangeError('ExpiryScheduler: dueAt must be a finite number of epoch milliseconds.');
    const key = Math.ceil(dueAt / BUCKET_MS) * BUCKET_MS;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, (bucket = new Set()));
      this.push(key);
    } else if (bucket.size === 0) {
      this.empty--;
    }
    bucket.add(item);
    if (key < this.armedFor) this.arm(key);
    return key;
  }

  cancel(item: Expiring, key: number): void {
    const bucket = this.buckets.get(key);
    if (!bucket?.delete(item) || bucket.size > 0) return;
    this.empty++;
    if (this.empty === this.buckets.size) return this.clear();
    if (this.empty > this.buckets.size - this.empty) this.compact();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    while (this.times.length && this.times[0] <= now) this.tickBucket(this.pop());
    // Emptied buckets at the top would only wake the timer for nothing.
    while (this.times.length && this.buckets.get(this.times[0])!.size === 0) this.dropBucket(this.pop());
    if (this.times.length) this.arm(this.times[0]);
  }

  private tickBucket(key: number): void {
    const bucket = this.dropBucket(key);
    // A tick may schedule or cancel; the bucket left the map first, so neither touches it.
    for (const item of bucket) item.tick();
  }

  private dropBucket(key: number): Set<Expiring> {
    const bucket = this.buckets.get(key)!;
    this.buckets.delete(key);
    if (bucket.size === 0) this.empty--;
    return bucket;
  }

  /** Nothing left to expire: an idle server keeps no timer and no bucket times. */
  private clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.buckets.clear();
    this.times.length = 0;
    this.empty = 0;
  }

  /**
   * Drops the emptied buckets and rebuilds the heap from the live ones, in O(n). It runs only
   * once emptied buckets outnumber live ones, so its cost is paid by the cancels that emptied
   * them: amortised O(1) per cancel. The timer stays armed; if its bucket went, it wakes for
   * nothing once and re-arms for the next live time.
   */
  private compact(): void {
    for (const [key, bucket] of this.buckets) if (bucket.size === 0) this.buckets.delete(key);
    this.empty = 0;
    const heap = this.times;
    heap.length = 0;
    for (const key of this.buckets.keys()) heap.push(key);
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private arm(key: number): void {
    clearTimeout(this.timer);
    this.armedFor = key;
    this.timer = setTimeout(fireScheduler, Math.min(Math.max(key - Date.now(), 0), MAX_DELAY_MS), this);
    // Sockets keep a server alive, not their deadlines.
    this.timer.unref();
  }

  private push(key: number): void {
    const heap = this.times;
    heap.push(key);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= heap[i]) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  private pop(): number {
    const heap = this.times;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const heap = this.times;
    for (let i = start; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left] < heap[smallest]) smallest = left;
      if (right < heap.length && heap[right] < heap[smallest]) smallest = right;
      if (smallest === i) break;
      [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
      i = smallest;
    }
  }
}

function fireScheduler(scheduler: ExpiryScheduler): void {
  (scheduler as unknown as { fire(): void }).fire();
}
