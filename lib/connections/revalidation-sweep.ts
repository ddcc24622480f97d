import type { WebSocket } from 'ws';
import type { ConnectionRegistry } from './connection-registry.js';
import type { ConnectionSession } from './connection-session.js';
import { sessionOf } from './session-of.js';

// A round is cut into slices so that 10,000 connections never run validate() in one tick:
// at most MAX_SLICES per interval, none shorter than MIN_SLICE_MS.
const MAX_SLICES = 100;
const MIN_SLICE_MS = 50;
const MAX_DELAY_MS = 2 ** 31 - 1;
// Re-checks waiting on an async validate() at once (or one slice's worth, if more); past it a
// slice starts none and the round simply takes longer, so a slow user store is not sent more
// queries than it answers.
const MAX_RECHECKS_IN_FLIGHT = 64;

/** @internal How many slices a round of `intervalMs` is cut into. */
export function slicesPer(intervalMs: number): number {
  return Math.max(1, Math.min(MAX_SLICES, Math.floor(intervalMs / MIN_SLICE_MS)));
}

/**
 * Re-checks every connection about once per interval, a slice at a time: each slice takes the
 * next ceil(n / slices) connections of the round. A connection that opened during a round
 * waits for the next one; one that closed is passed over.
 */
export class RevalidationSweep {
  private readonly slices: number;
  private readonly timer: NodeJS.Timeout;
  // The connections there when the round began. A cursor over the live registry would see
  // arrivals appended ahead of it: under steady churn a round would never end, and the
  // connections near its end would never be reached. One pointer per connection, per round.
  private round?: WebSocket[];
  private next = 0;
  private perSlice = 0;
  private nextRoundAt = 0;
  private inFlight = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly registry: ConnectionRegistry,
    private readonly recheck: (session: ConnectionSession) => Promise<unknown>,
    private readonly recheckable: (session: ConnectionSession) => boolean,
  ) {
    this.slices = slicesPer(intervalMs);
    // Past setTimeout's ceiling Node would fire every millisecond instead.
    this.timer = setInterval(sweepSlice, Math.min(intervalMs / this.slices, MAX_DELAY_MS), this);
    // Connections keep a server alive, not their re-checks.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.round = undefined;
  }

  private slice(): void {
    if (!this.round) {
      const now = Date.now();
      if (now < this.nextRoundAt || this.registry.size === 0) return;
      this.nextRoundAt = now + this.intervalMs;
      this.perSlice = Math.ceil(this.registry.size / this.slices);
      this.round = [...this.registry.all()];
      this.next = 0;
    }
    const inFlightLimit = Math.max(MAX_RECHECKS_IN_FLIGHT, this.perSlice);
    // Every connection visited counts, re-checked or not, so no slice walks the whole registry.
    for (let visited = 0; visited < this.perSlice && this.inFlight < inFlightLimit; visited++) {
      if (this.next >= this.round.length) {
        this.round = undefined;
        return;
      }
      // A connection that closed since the round began has no session: passed over.
      const session = sessionOf(this.round[this.next++]);
      if (!session || !this.recheckable(session)) continue;
      this.inFlight++;
      void this.recheck(session).finally(() => this.inFlight--);
    }
  }
}

function sweepSlice(sweep: RevalidationSweep): void {
  (sweep as unknown as { slice(): void }).slice();
}
