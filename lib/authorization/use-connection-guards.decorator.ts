import { UseGuards, type CanActivate, type Type } from '@nestjs/common';

/** Metadata key of `@UseConnectionGuards()`: the guards that also judge the upgrade. */
export const WS_CONNECTION_GUARDS_KEY = 'nestjs-ws-auth:connection-guards';

export type WsConnectionGuard = Type<CanActivate> | CanActivate;

/**
 * Guards that judge a connection attempt before a socket exists (a refusal is an HTTP 403, or
 * the refusal a guard throws) and, as `@UseGuards()` on the class, every message after it.
 * Nest runs no guard for `handleConnection` (nestjs/nest#882), so without this a socket a
 * guard would refuse is open, and reaches handleConnection, until its first message.
 * Going through Nest's own `UseGuards` makes Nest's scanner create the guard classes as
 * injectables of the gateway's module: the upgrade uses those very instances, with their
 * dependencies, rather than building its own. `getWsConnectionAttempt(context)` tells a guard
 * which of the two it is judging.
 */
export function UseConnectionGuards(...guards: WsConnectionGuard[]): ClassDecorator {
  if (guards.length === 0 || guards.some((guard) => !isGuard(guard))) {
    throw new Error('UseConnectionGuards: pass guard classes or instances with a canActivate() method.');
  }
  const useGuards = UseGuards(...guards) as ClassDecorator;
  return (target) => {
    useGuards(target);
    // Extends rather than replaces, as UseGuards does: two decorators (or a base class's and
    // its subclass's) both apply.
    const declared: readonly WsConnectionGuard[] = Reflect.getMetadata(WS_CONNECTION_GUARDS_KEY, target) ?? [];
    Reflect.defineMetadata(WS_CONNECTION_GUARDS_KEY, [...declared, ...guards], target);
  };
}

function isGuard(guard: unknown): boolean {
  if (typeof guard === 'function') return true;
  return typeof (guard as { canActivate?: unknown } | null)?.canActivate === 'function';
}
