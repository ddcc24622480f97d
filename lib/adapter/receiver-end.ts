import { Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * On every close, `ws` ends a socket's frame receiver three times: the receiver ends itself on
 * the close frame, then `ws` calls `end()` again when the peer's FIN arrives ('end') and when
 * the TCP socket closes. Node answers each `end()` of a finished stream by building an
 * ERR_STREAM_ALREADY_FINISHED error, stack trace included, that nobody receives (ws passes no
 * callback): measured at about 20 us of CPU per connection in a busy server, more than all of
 * this library's own work per handshake. The receiver of each socket we accept skips those
 * calls; any other call is Node's own `end()`.
 *
 * `_receiver` is private to `ws` (8.x, every version Nest 11 and 12 ship): when it is missing,
 * is not a Writable, or ends in a way of its own, the socket is left as it is.
 */
export function endReceiverOnce(socket: WebSocket): void {
  const receiver = (socket as unknown as { _receiver?: unknown })._receiver;
  if (receiver instanceof Writable && receiver.end === Writable.prototype.end) receiver.end = endUnlessFinished as Writable['end'];
}

function endUnlessFinished(this: Writable, ...args: unknown[]): Writable {
  if (args.length === 0 && this.writableFinished) return this;
  return (Writable.prototype.end as (...args: unknown[]) => Writable).apply(this, args);
}
