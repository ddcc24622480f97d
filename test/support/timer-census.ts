import { createHook, type AsyncHook } from 'node:async_hooks';

/**
 * Counts live timers by the source file that created them. The library unref()s its
 * per-connection timers, and process.getActiveResourcesInfo() lists only ref'd ones, so that
 * API cannot see a leaked connection timer; async_hooks sees every Timeout from creation
 * until it fires or is cleared.
 */
export class TimerCensus {
  private readonly live = new Map<number, string>();
  private readonly hook: AsyncHook;

  constructor(private readonly files: readonly string[]) {
    this.hook = createHook({
      init: (asyncId, type) => {
        if (type !== 'Timeout') return;
        const creator = creatorOf(new Error().stack);
        const file = this.files.find((name) => creator.includes(name));
        if (file) this.live.set(asyncId, file);
      },
      destroy: (asyncId) => {
        this.live.delete(asyncId);
      },
    });
  }

  start(): this {
    this.hook.enable();
    return this;
  }

  stop(): void {
    this.hook.disable();
    this.live.clear();
  }

  /**
   * The count once Node has reported the timers that just fired or were cleared: it emits
   * destroy hooks in a batch after the fact, so a timer replaced a moment ago still counts.
   */
  async settled(file?: string): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 30));
    return this.count(file);
  }

  /** Timers created by `file` (or by any watched file) that have neither fired nor been cleared. */
  count(file?: string): number {
    let total = 0;
    for (const origin of this.live.values()) if (file === undefined || origin === file) total++;
    return total;
  }
}

/**
 * The frame that called setTimeout: the first one below Node's own timer frames. A timer
 * made further down (a verification deadline during in-band authentication) is not counted.
 */
function creatorOf(stack = ''): string {
  const frames = stack.split('\n').slice(1);
  const setTimeoutFrame = frames.findIndex((frame) => /at setTimeout \(node:timers/.test(frame));
  return setTimeoutFrame === -1 ? '' : (frames[setTimeoutFrame + 1] ?? '');
}

/** The library files that own per-connection timers. */
// Every authenticated connection's deadline lives in one shared scheduler timer.
export const SESSION_TIMERS = 'expiry-scheduler.js';
export const PENDING_AUTH_TIMERS = 'in-band-authentication.js';
