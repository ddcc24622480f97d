import { socketSlot } from '../socket-slot.js';
import type { WsIdentity } from './ws-identity.js';

// On the socket, not in a WeakMap: an entry per connection measured ~1-2 us per handshake to
// insert, and every guarded message reads it.
const identities = socketSlot<WsIdentity>();

export function attachIdentity(socket: object, identity: WsIdentity): void {
  identities.set(socket, identity);
}

/** A connection closed for an auth reason no longer has anyone behind it. */
export function detachIdentity(socket: object): void {
  identities.clear(socket);
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
  if (typeof client !== 'object' || client === null || !identities.isOn(client)) return undefined;
  return identities.get(client);
}
