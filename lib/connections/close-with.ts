import type { WebSocket } from 'ws';
import { detachIdentity } from '../identity/identity-store.js';
import { WsRefusal, type WsRefusalReason } from '../refusals/ws-refusal.js';
import type { GatewayTelemetry, Peer } from '../telemetry/gateway-telemetry.js';
import { sessionOf } from './session-of.js';

/** What a close takes from its gateway: how long the peer gets, and where the close is reported. */
export interface CloseSettings {
  readonly closeGraceMs: number;
  readonly telemetry?: GatewayTelemetry;
}

const OPEN = 1;
// RFC 6455 section 5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
const MAX_REASON_BYTES = 123;

/**
 * Closes a socket for an auth reason with the refusal's close code, and makes that take
 * effect now rather than when the peer answers: `ws` keeps emitting the frames of a closing
 * socket until the peer completes the close handshake (up to 30 s), so a kicked client that
 * ignores the close frame would go on being served. From here on the identity is detached,
 * no frame reaches a handler, and the socket is destroyed if the peer has not closed within
 * `closeGraceMs`. The reason is fixed text, never client input. `peer` names the client of a
 * socket that has no session yet (in-band), for the close's event.
 */
export function closeWith(socket: WebSocket, reason: WsRefusalReason | WsRefusal, settings: CloseSettings, text?: string, peer?: Peer): void {
  if (socket.readyState !== OPEN) return;
  const refusal = reason instanceof WsRefusal ? reason : new WsRefusal(reason);
  const session = sessionOf(socket);
  settings.telemetry?.closed(refusal, session?.identity.subject, session?.peer ?? peer);
  session?.end();
  detachIdentity(socket);
  // Every listener: Nest's dispatch, an app's own, ours. A closed connection is not heard.
  socket.removeAllListeners('message');
  socket.close(refusal.closeCode, truncate(text ?? refusal.message));
  const grace = setTimeout(terminate, settings.closeGraceMs, socket);
  grace.unref();
  socket.once('close', () => clearTimeout(grace));
}

export function sendEvent(socket: WebSocket, event: string, data: unknown): void {
  if (socket.readyState === OPEN) socket.send(JSON.stringify({ event, data }));
}

function terminate(socket: WebSocket): void {
  socket.terminate();
}

function truncate(text: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= MAX_REASON_BYTES
    ? text
    : bytes
        .subarray(0, MAX_REASON_BYTES)
        .toString()
        .replace(/\uFFFD$/, '');
}
