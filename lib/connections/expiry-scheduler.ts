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

export class ExpiryScheduler {
  private readonly buckets = new Map<number, Set<Expiring>>();
  // Bucket times in a binary min-heap; a time whose bucket emptied is skipped when reached.
  private readonly times: number[] = [];
  private timer?: NodeJS.Timeout;
  private armedFor = Infinity;

  /** Schedules `item` for `dueAt` (epoch ms); returns the key `cancel` needs. */
  schedule(item: Expiring, dueAt: number): number {
    const key = Math.ceil(dueAt / BUCKET_MS) * BUCKET_MS;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, (bucket = new Set()));
      this.push(key);
    }
    bucket.add(item);
    if (key < this.armedFor) this.arm(key);
    return key;
  }

  cancel(item: Expiring, key: number): void {
    const bucket = this.buckets.get(key);
    if (bucket?.delete(item) && bucket.size === 0) this.buckets.delete(key);
    if (this.buckets.size > 0) return;
    // Nothing left to expire: an idle server keeps no timer and no stale bucket times.
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.times.length = 0;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    while (this.times.length && this.times[0] <= now) {
      const key = this.pop();
      const bucket = this.buckets.get(key);
      this.buckets.delete(key);
      for (const item of bucket ?? []) item.tick();
    }
    while (this.times.length && !this.buckets.has(this.times[0])) this.pop();
    if (this.times.length) this.arm(this.times[0]);
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
    for (let i = heap.length - 1; i > 0; ) {
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
      for (let i = 0; ; ) {
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
    return top;
  }
}

function fireScheduler(scheduler: ExpiryScheduler): void {
  (scheduler as unknown as { fire(): void }).fire();
}
