import type { WebSocket } from 'ws';
import type { ConnectionSession } from './connection-session.js';

// Its own module so that closing a socket can end its session without an import cycle. The
// session rides on the socket under a private, non-enumerable symbol rather than in a WeakMap:
// one fewer hash-table insert per handshake, and logging a socket shows nothing of it.
const SESSION = Symbol('ws-auth.session');

type Carrier = { [SESSION]?: ConnectionSession };

export function sessionOf(socket: WebSocket): ConnectionSession | undefined {
  return (socket as Carrier)[SESSION];
}

export function bindSession(socket: WebSocket, session: ConnectionSession): void {
  const carrier = socket as Carrier;
  if (Object.hasOwn(carrier, SESSION)) carrier[SESSION] = session;
  else Object.defineProperty(carrier, SESSION, { value: session, writable: true, configurable: true });
}

export function unbindSession(socket: WebSocket, session: ConnectionSession): void {
  // Overwritten, not deleted: a delete would turn every socket's shape into a slow dictionary.
  if (sessionOf(socket) === session) (socket as Carrier)[SESSION] = undefined;
}
