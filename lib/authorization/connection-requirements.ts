import type { IncomingMessage } from 'node:http';
import type { CanActivate, Type } from '@nestjs/common';
import { isObservable, type Observable, type Unsubscribable } from 'rxjs';
import { withDeadline } from '../handshake/deadline.js';
import { isPromiseLike, type MaybePromise } from '../handshake/maybe-promise.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { failStartup } from '../startup-checks.js';
import { WS_ROLES_KEY } from '../ws-auth.constants.js';
import { ConnectionContext, connectionHandlerOf, type WsConnectionAttempt } from './connection-context.js';
import type { GatewayHost } from './gateways-of-server.js';
import { guardRefusal } from './guard-refusal.js';
import { WS_CONNECTION_GUARDS_KEY, type WsConnectionGuard } from './use-connection-guards.decorator.js';

interface RolesRule {
  readonly roles: readonly string[];
}

interface GuardStep {
  readonly guard: CanActivate;
  readonly guardName: string;
  readonly gateway: Type<unknown>;
  readonly gatewayName: string;
  readonly handler: (...args: any[]) => any;
}

/** What an asynchronous run of guards leaves behind when its deadline passes. */
interface PendingRun {
  over: boolean;
  subscription?: Unsubscribable;
}

type GuardResult = boolean | Promise<boolean> | Observable<boolean>;

const FORBIDDEN = 'forbidden';

/**
 * What every gateway class of one server requires of a connection before it gets a socket:
 * the class's `@Roles()` and its `@UseConnectionGuards()`. All of them, for every class on
 * the server, must pass: the socket would reach each class's handlers. Built once per server
 * at startup; a server that requires nothing has no requirements object at all.
 */
export class ConnectionRequirements {
  private constructor(
    private readonly roles: readonly RolesRule[],
    private readonly steps: readonly GuardStep[],
    private readonly timeoutMs: number,
  ) {}

  /** Undefined when no class on the server requires anything: its upgrades pay nothing. */
  static of(hosts: readonly GatewayHost[], timeoutMs: number): ConnectionRequirements | undefined {
    const roles: RolesRule[] = [];
    const steps: GuardStep[] = [];
    for (const { gateway, module } of hosts) {
      const gatewayName = gateway.name || 'an anonymous gateway';
      // The class's list, never a handler's: a handler's @Roles still overrides its class's
      // per message (WsRolesGuard reads getAllAndOverride), but it can no longer admit
      // someone the class refuses here, since that user never gets a socket.
      const classRoles: readonly string[] | undefined = Reflect.getMetadata(WS_ROLES_KEY, gateway);
      if (classRoles && classRoles.length > 0) roles.push({ roles: classRoles });
      const declared: readonly WsConnectionGuard[] = Reflect.getMetadata(WS_CONNECTION_GUARDS_KEY, gateway) ?? [];
      const handler = connectionHandlerOf(gateway);
      for (const declaredGuard of declared) {
        const guard = guardInstance(declaredGuard, module.injectables, gatewayName);
        steps.push({ guard, guardName: guard.constructor?.name || 'guard', gateway, gatewayName, handler });
      }
    }
    if (roles.length === 0 && steps.length === 0) return undefined;
    return new ConnectionRequirements(roles, steps, timeoutMs);
  }

  /**
   * Throws (or rejects with) the refusal. Synchronous guards answer in the same tick; the
   * first guard that answers later starts one deadline, the gateway's verifyTimeoutMs, for
   * itself and every guard after it.
   */
  check(request: IncomingMessage, identity: WsIdentity): MaybePromise<void> {
    // Roles first: they cost nothing, and a guard with side effects (a rate limit) then never
    // counts an attempt the roles refuse anyway.
    for (const rule of this.roles) {
      if (!rule.roles.some((role) => identity.roles.includes(role))) throw new WsRefusal(FORBIDDEN);
    }
    return this.judgeFrom(0, { request, identity });
  }

  private judgeFrom(first: number, attempt: WsConnectionAttempt): MaybePromise<void> {
    for (let index = first; index < this.steps.length; index++) {
      const result = this.ask(index, attempt);
      if (isPromiseLike(result) || isObservable(result)) return this.judgeLater(result, index, attempt);
      // As Nest's GuardsConsumer: any truthy answer passes.
      if (!result) throw new WsRefusal(FORBIDDEN);
    }
    return undefined;
  }

  private ask(index: number, attempt: WsConnectionAttempt): GuardResult {
    const step = this.steps[index]!;
    try {
      return step.guard.canActivate(new ConnectionContext(attempt, step.gateway, step.handler));
    } catch (error) {
      throw guardRefusal(error, step.guardName, step.gatewayName);
    }
  }

  private judgeLater(pending: Promise<boolean> | Observable<boolean>, index: number, attempt: WsConnectionAttempt): Promise<void> {
    const run: PendingRun = { over: false };
    const rest = async (): Promise<void> => {
      let result: GuardResult = pending;
      for (let current = index; current < this.steps.length; current++) {
        if (current > index) result = this.ask(current, attempt);
        let verdict: unknown;
        try {
          verdict = await settle(result, run);
        } catch (error) {
          if (run.over) return;
          const step = this.steps[current]!;
          throw guardRefusal(error, step.guardName, step.gatewayName);
        }
        // The deadline has answered: the guards after this one judge nobody.
        if (run.over) return;
        if (!verdict) throw new WsRefusal(FORBIDDEN);
      }
    };
    return (withDeadline(rest(), this.timeoutMs) as Promise<void>).finally(() => {
      run.over = true;
      // An Observable that never completes would otherwise hold its subscription (and the
      // attempt) for as long as it lives.
      run.subscription?.unsubscribe();
    });
  }
}

/**
 * Nest's GuardsConsumer semantics, so a guard judges a connection as it judges a message: a
 * Promise's value, or an Observable's last value (a Promise may resolve to an Observable).
 * An Observable that completes without a value refuses.
 */
async function settle(result: GuardResult, run: PendingRun): Promise<unknown> {
  const value: unknown = await result;
  if (!isObservable(value)) return value;
  return new Promise((resolve, reject) => {
    let last: unknown;
    run.subscription = value.subscribe({
      next: (next) => (last = next),
      error: reject,
      complete: () => resolve(last),
    });
  });
}

/**
 * The instance Nest created for the gateway's module (UseGuards made the class one of its
 * injectables), or the instance itself. A scoped guard has no instance outside a request or
 * a host's context, and the upgrade is neither: refuse to start rather than skip it.
 */
function guardInstance(
  guard: WsConnectionGuard,
  injectables: ReadonlyMap<unknown, { instance: unknown; isTransient?: boolean; isDependencyTreeStatic(): boolean }>,
  gatewayName: string,
): CanActivate {
  if (typeof guard !== 'function') return guard;
  const wrapper = injectables.get(guard);
  const where = `connection guard ${guard.name} of ${gatewayName}`;
  if (!wrapper) failStartup(`the ${where} was not registered by Nest: declare it with @UseConnectionGuards on the gateway class.`);
  if (wrapper.isTransient || !wrapper.isDependencyTreeStatic()) {
    failStartup(
      `the ${where} is request-scoped or transient (or depends on such a provider). An upgrade has no request context to create it in: make it a singleton, or use @UseGuards for messages only.`,
    );
  }
  const instance = wrapper.instance as Partial<CanActivate> | null | undefined;
  if (typeof instance?.canActivate !== 'function') failStartup(`the ${where} has no canActivate() method.`);
  return instance as CanActivate;
}
