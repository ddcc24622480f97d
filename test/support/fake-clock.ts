import type { WsAuthClientClock } from '../../lib/client/ws-auth-client.js';

interface Timer {
  readonly at: number;
  readonly delay: number;
  readonly callback: () => void;
}

/** Timers that fire only when a test advances time, so backoff delays can be read exactly. */
export class FakeClock implements WsAuthClientClock {
  private now = 0;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, delay: ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** The delays of the timers still waiting, in the order they were set. */
  get pendingDelays(): number[] {
    return [...this.timers.values()].map((timer) => timer.delay);
  }

  /** Moves time forward, firing every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, timer]) => timer.at <= until).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = until;
  }
}
