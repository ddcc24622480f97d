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

// A slot is never read through a prototype: an object made from a socket is not its client.
function ownIdentity(client: unknown): WsIdentity | undefined {
  return typeof client === 'object' && client !== null ? identities.get(client) : undefined;
}
