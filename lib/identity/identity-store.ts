import type { WsIdentity } from './ws-identity.js';

// The identity rides on the socket under a private symbol, not in a WeakMap: a WeakMap entry
// per connection measured ~1-2 us per handshake to insert, and every guarded message reads it.
// The property is defined non-enumerable, so logging a socket shows nothing of its identity.
const IDENTITY = Symbol('ws-auth.identity');

type Carrier = { [IDENTITY]?: WsIdentity };

export function attachIdentity(socket: object, identity: WsIdentity): void {
  const carrier = socket as Carrier;
  if (Object.hasOwn(carrier, IDENTITY)) carrier[IDENTITY] = identity;
  else Object.defineProperty(carrier, IDENTITY, { value: identity, writable: true, configurable: true });
}

/** A connection closed for an auth reason no longer has anyone behind it. */
export function detachIdentity(socket: object): void {
  // Overwritten, not deleted: a delete would turn every socket's shape into a slow dictionary.
  if (Object.hasOwn(socket, IDENTITY)) (socket as Carrier)[IDENTITY] = undefined;
}

/** The identity of a connected client, for code that has no decorators. */
export function getWsIdentity<User = unknown>(client: object): WsIdentity<User> | undefined {
  return ownIdentity(client) as WsIdentity<User> | undefined;
}

/** The user of a connected client (what `validate()` returned), or undefined. */
export function getWsUser<User = unknown>(client: object): User | undefined {
  return (ownIdentity(client) as WsIdentity<User> | undefined)?.user;
}

// Own property only: an object whose prototype is a socket is not that socket's client.
function ownIdentity(client: unknown): WsIdentity | undefined {
  if (typeof client !== 'object' || client === null || !Object.hasOwn(client, IDENTITY)) return undefined;
  return (client as Carrier)[IDENTITY];
}
