import { WsRefusal } from '../refusals/ws-refusal.js';
import { WsTicketStore } from './ws-ticket-store.js';

interface Entry {
  readonly value: string;
  readonly expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * The default store, for a single instance. Bounded, so a flood of issued tickets cannot
 * grow the heap without limit, and swept lazily on write instead of one timer per ticket.
 */
export class MemoryTicketStore extends WsTicketStore {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {
    super();
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error('MemoryTicketStore: maxEntries must be a positive integer.');
  }

  get size(): number {
    return this.entries.size;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    this.sweepOldest(now);
    if (this.entries.size >= this.maxEntries) this.sweepAll(now);
    if (this.entries.size >= this.maxEntries) throw new WsRefusal('unavailable');
    this.entries.set(key, { value, expiresAt: now + ttlMs });
  }

  async take(key: string): Promise<string | undefined> {
    // Synchronous get-and-delete: nothing can interleave, so a ticket is taken once.
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    return entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  // Insertion order is close to expiry order, so expired entries gather at the front.
  private sweepOldest(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(key);
    }
  }

  private sweepAll(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
