import type { IncomingMessage } from 'node:http';
import type { WsIdentity } from './ws-identity.js';

// `verifyClient` can hand its result to the connection only through the request object.
// WeakMaps keep that hand-over off foreign objects and let abandoned upgrades be collected.
const byRequest = new WeakMap<IncomingMessage, WsIdentity>();
const bySocket = new WeakMap<object, WsIdentity>();

export function rememberForUpgrade(request: IncomingMessage, identity: WsIdentity): void {
  byRequest.set(request, identity);
}

export function identityOfRequest<User = unknown>(request: IncomingMessage): WsIdentity<User> | undefined {
  return byRequest.get(request) as WsIdentity<User> | undefined;
}

export function attachIdentity(socket: object, identity: WsIdentity): void {
  bySocket.set(socket, identity);
}

/** A connection closed for an auth reason no longer has anyone behind it. */
export function detachIdentity(socket: object): void {
  bySocket.delete(socket);
}

/** The identity of a connected client, for code that has no decorators. */
export function getWsIdentity<User = unknown>(client: object): WsIdentity<User> | undefined {
  return bySocket.get(client) as WsIdentity<User> | undefined;
}

/** The user of a connected client (what `validate()` returned), or undefined. */
export function getWsUser<User = unknown>(client: object): User | undefined {
  return (bySocket.get(client) as WsIdentity<User> | undefined)?.user;
}
