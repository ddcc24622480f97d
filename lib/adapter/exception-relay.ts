import type { WebSocket } from 'ws';

const OPEN = 1;

/**
 * Nest 11's BaseWsExceptionFilter calls `client.emit('exception', payload)`, which on a
 * native `ws` socket only fires a local event; Nest 12's sends the frame itself and never
 * emits. Listening for that local event makes both answer the client exactly once.
 * One shared function: EventEmitter passes the socket as `this`.
 */
export function relayException(this: WebSocket, payload: unknown): void {
  if (this.readyState === OPEN) this.send(JSON.stringify({ event: 'exception', data: payload }));
}
