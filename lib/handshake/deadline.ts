import { WsRefusal } from '../refusals/ws-refusal.js';

/**
 * Bounds a verification that may hang (a slow user store, a key server). The timer is
 * cleared as soon as either side settles, so nothing outlives the handshake.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WsRefusal('verification_timeout')), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
