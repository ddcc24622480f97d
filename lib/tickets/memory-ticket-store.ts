import { WsRefusal } from '../refusals/ws-refusal.js';
import { assertOwner, WsTicketStore, type WsTicketOwner } from './ws-ticket-store.js';

interface Entry {
  readonly value: string;
  readonly expiresAt: number;
  readonly subject?: string;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * The default store, for a single instance. Bounded, so a flood of issued tickets cannot
 * grow the heap without limit, and swept lazily on write instead of one timer per ticket.
 * Capped per subject when `put` is given an owner: a user minting in bulk evicts their own
 * oldest tickets and never fills the store for everyone else.
 */
export class MemoryTicketStore extends WsTicketStore {
  private readonly entries = new Map<string, Entry>();
  // Each subject's keys in insertion order (a Set keeps it): the first is the oldest, so
  // dropping it is O(1). A subject is removed with its last key, so none lingers.
  private readonly bySubject = new Map<string, Set<string>>();

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {
    super();
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error('MemoryTicketStore: maxEntries must be a positive integer.');
  }

  get size(): number {
    return this.entries.size;
  }

  /** Subjects with at least one ticket kept (redeemed and swept ones are forgotten). */
  get subjects(): number {
    return this.bySubject.size;
  }

  async put(key: string, value: string, ttlMs: number, owner?: WsTicketOwner): Promise<void> {
    if (owner) assertOwner(owner);
    const now = Date.now();
    this.sweepOldest(now);
    this.forget(key);
    // Before the global bound: at their cap, a subject makes room with their own oldest.
    if (owner) this.dropOldestOf(owner);
    if (this.entries.size >= this.maxEntries) this.sweepAll(now);
    if (this.entries.size >= this.maxEntries) throw new WsRefusal('unavailable');
    this.entries.set(key, { value, expiresAt: now + ttlMs, subject: owner?.subject });
    if (owner) {
      const keys = this.bySubject.get(owner.subject);
      if (keys) keys.add(key);
      else this.bySubject.set(owner.subject, new Set([key]));
    }
  }

  async take(key: string): Promise<string | undefined> {
    // Synchronous get-and-delete: nothing can interleave, so a ticket is taken once.
    const entry = this.forget(key);
    if (!entry) return undefined;
    return entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  private dropOldestOf({ subject, max }: WsTicketOwner): void {
    const keys = this.bySubject.get(subject);
    // A loop only when the cap was lowered since; otherwise at most one key goes.
    while (keys && keys.size >= max) {
      const oldest = keys.values().next().value as string;
      this.forget(oldest);
    }
  }

  private forget(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.subject !== undefined) {
      const keys = this.bySubject.get(entry.subject);
      keys?.delete(key);
      if (keys?.size === 0) this.bySubject.delete(entry.subject);
    }
    return entry;
  }

  // Insertion order is close to expiry order, so expired entries gather at the front.
  private sweepOldest(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.forget(key);
    }
  }

  private sweepAll(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.forget(key);
  }
}
