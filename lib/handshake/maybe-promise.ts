/**
 * A value now, or later. A handshake whose checks are all synchronous (a JWT verified with
 * a KeyObject, a synchronous validate()) completes in the same tick, with no promise, no
 * timer and no deadline; only work that can wait pays for them.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromiseLike(value) ? value.then(next) : next(value);
}
