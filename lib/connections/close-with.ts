import type { WebSocket } from 'ws';
import { WsRefusal, type WsRefusalReason } from '../refusals/ws-refusal.js';

const OPEN = 1;
// RFC 6455 section 5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
const MAX_REASON_BYTES = 123;

/** Closes with the refusal's close code; the reason is fixed text, never client input. */
export function closeWith(socket: WebSocket, reason: WsRefusalReason | WsRefusal, text?: string): void {
  if (socket.readyState !== OPEN) return;
  const refusal = reason instanceof WsRefusal ? reason : new WsRefusal(reason);
  socket.close(refusal.closeCode, truncate(text ?? refusal.message));
}

export function sendEvent(socket: WebSocket, event: string, data: unknown): void {
  if (socket.readyState === OPEN) socket.send(JSON.stringify({ event, data }));
}

function truncate(text: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= MAX_REASON_BYTES ? text : bytes.subarray(0, MAX_REASON_BYTES).toString().replace(/\uFFFD$/, '');
}
