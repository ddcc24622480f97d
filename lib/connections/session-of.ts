import type { WebSocket } from 'ws';
import { socketSlot } from '../socket-slot.js';
import type { ConnectionSession } from './connection-session.js';

// Its own module so that closing a socket can end its session without an import cycle.
const sessions = socketSlot<ConnectionSession>();

export function sessionOf(socket: WebSocket): ConnectionSession | undefined {
  return sessions.get(socket);
}

export function bindSession(socket: WebSocket, session: ConnectionSession): void {
  sessions.set(socket, session);
}

export function unbindSession(socket: WebSocket, session: ConnectionSession): void {
  if (sessionOf(socket) === session) sessions.clear(socket);
}
