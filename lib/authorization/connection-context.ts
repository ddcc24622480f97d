import type { IncomingMessage } from 'node:http';
import type { ExecutionContext, Type } from '@nestjs/common';
import type { WsIdentity } from '../identity/ws-identity.js';

/** What a guard judges at the upgrade: the request and the identity it authenticated as. */
export interface WsConnectionAttempt<User = unknown> {
  readonly request: IncomingMessage;
  readonly identity: WsIdentity<User>;
}

// Named in @nestjs/common's interfaces but not exported from its root.
type WsArgumentsHost = ReturnType<ExecutionContext['switchToWs']>;
type HttpArgumentsHost = ReturnType<ExecutionContext['switchToHttp']>;
type RpcArgumentsHost = ReturnType<ExecutionContext['switchToRpc']>;

// No socket exists while the upgrade is judged. A frozen object with nothing on it makes a
// guard that reaches for the socket (send, close) fail loudly, as a refusal, not write somewhere.
const NO_SOCKET: object = Object.freeze(Object.create(null));

/**
 * The connection attempt a guard is judging, or undefined when it judges a message. A guard
 * declared with `@UseConnectionGuards()` runs at both times and may decide differently.
 */
export function getWsConnectionAttempt<User = unknown>(context: ExecutionContext): WsConnectionAttempt<User> | undefined {
  return ConnectionContext.attemptOf(context) as WsConnectionAttempt<User> | undefined;
}

const WS_HOST: WsArgumentsHost = Object.freeze({
  getClient: <T>() => NO_SOCKET as T,
  getData: <T>() => undefined as T,
  // No message, so no event name: '' matches no `@SubscribeMessage`.
  getPattern: () => '',
});
const HTTP_HOST: HttpArgumentsHost = Object.freeze({
  getRequest: <T>() => undefined as T,
  getResponse: <T>() => undefined as T,
  getNext: <T>() => undefined as T,
});
const RPC_HOST: RpcArgumentsHost = Object.freeze({ getData: <T>() => undefined as T, getContext: <T>() => undefined as T });

/**
 * The ExecutionContext of a connection attempt, shaped as Nest shapes a message's (`ws`, the
 * gateway class, args `[client, data]`), so the same guard class reads both alike. Built
 * here rather than from Nest's ExecutionContextHost, whose import path differs between Nest
 * 11 and 12.
 */
export class ConnectionContext implements ExecutionContext {
  private static readonly ARGS: readonly unknown[] = Object.freeze([NO_SOCKET, undefined]);
  // A private field: only contexts built here carry an attempt, so nothing a client sends can
  // make a message's context look like a connection attempt. Asked on every guarded message,
  // where the brand check costs less than a map lookup.
  readonly #attempt: WsConnectionAttempt;

  constructor(
    attempt: WsConnectionAttempt,
    private readonly gateway: Type<unknown>,
    private readonly handler: (...args: any[]) => any,
  ) {
    this.#attempt = attempt;
  }

  static attemptOf(context: object): WsConnectionAttempt | undefined {
    return #attempt in context ? (context as ConnectionContext).#attempt : undefined;
  }

  getClass<T = any>(): Type<T> {
    return this.gateway as Type<T>;
  }

  getHandler(): (...args: any[]) => any {
    return this.handler;
  }

  getArgs<T extends any[] = any[]>(): T {
    return ConnectionContext.ARGS as T;
  }

  getArgByIndex<T = any>(index: number): T {
    return ConnectionContext.ARGS[index] as T;
  }

  getType<TContext extends string = 'ws'>(): TContext {
    return 'ws' as TContext;
  }

  switchToWs(): WsArgumentsHost {
    return WS_HOST;
  }

  switchToHttp(): HttpArgumentsHost {
    return HTTP_HOST;
  }

  switchToRpc(): RpcArgumentsHost {
    return RPC_HOST;
  }
}

// The handler a guard sees for a gateway without handleConnection: one fixed function, so a
// guard that caches by handler caches once.
function connectionAttempt(): void {}

/** `handleConnection` when the gateway has one: that is the code the attempt would reach. */
export function connectionHandlerOf(gateway: Type<unknown>): (...args: any[]) => any {
  const handler = (gateway.prototype as { handleConnection?: unknown }).handleConnection;
  return typeof handler === 'function' ? (handler as (...args: any[]) => any) : connectionAttempt;
}
