import { WsRefusal } from '../refusals/ws-refusal.js';
import { isPromiseLike, type MaybePromise } from './maybe-promise.js';

/**
 * Bounds a verification that may hang (a slow user store, a key server). A value that is
 * already there passes straight through: no timer, no promise. The timer is cleared as soon
 * as either side settles, so nothing outlives the handshake.
 */
export function withDeadline<T>(work: MaybePromise<T>, ms: number): MaybePromise<T> {
  if (!isPromiseLike(work)) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WsRefusal('verification_timeout')), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
