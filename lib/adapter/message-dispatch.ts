import type { LoggerService } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { Observable, Subscription } from 'rxjs';
import { socketSlot } from '../socket-slot.js';
import type { RawData, WebSocket } from 'ws';

type WsData = string | RawData;
type WsMessageParser = (data: WsData) => { event: unknown; data: unknown } | void;

/** One entry of the array Nest builds per client: `callback` is already bound to that client. */
export interface DispatchedHandler {
  message: unknown;
  callback: (data: unknown, event: unknown) => unknown;
}

/** What the dispatch needs from the adapter: one object per adapter, shared by its sockets. */
export interface MessageDispatchHost {
  /** Called for every frame: Nest's `setMessageParser()` may replace the parser at any time. */
  messageParser(): WsMessageParser;
  readonly logger: Pick<LoggerService, 'error'>;
}

const OPEN = 1;

/**
 * One `bindMessageHandlers` call: what Nest's rxjs pipeline closed over, in one object. Two
 * gateways on one port and path both bind the same client, hence the chain.
 */
interface Binding {
  readonly host: MessageDispatchHost;
  readonly handlers: readonly DispatchedHandler[];
  readonly transform: (result: unknown) => Observable<unknown>;
  readonly socket: WebSocket;
  /** Streams still running, most recent first; unlinked as each one ends. */
  inFlight: InFlight | undefined;
  closed: boolean;
  next: Binding | undefined;
}

// On the socket rather than in a WeakMap: one fewer lookup per frame.
const bindings = socketSlot<Binding>();

/**
 * Nest's `WsAdapter.bindMessageHandlers` without its per-connection rxjs pipeline (about 7 KB
 * of heap per idle socket, and tens of microseconds to build and to tear down), with the same
 * observable behaviour: the same parser input, the same silent drops, `transform`'s stream sent
 * value by value while the socket is open, and every stream still running cancelled on close.
 * Per connection it keeps one small object; the listeners are shared by every socket. Where the
 * majors differ it does what Nest 12 does: a custom parser that throws and a stream that errors
 * are logged (Nest 11 drops the first and lets the second crash the process).
 */
export function bindMessageHandlersWithoutRxjs(
  host: MessageDispatchHost,
  client: WebSocket,
  handlers: readonly DispatchedHandler[],
  transform: (result: unknown) => Observable<unknown>,
): void {
  const binding: Binding = { host, handlers, transform, socket: client, inFlight: undefined, closed: false, next: undefined };
  const first = bindings.get(client);
  if (first) {
    let last = first;
    while (last.next) last = last.next;
    last.next = binding;
  } else {
    bindings.set(client, binding);
    client.on('message', onMessage);
  }
  // One close listener per binding, like Nest's `takeUntil(close$)`: each gateway's streams stop
  // before the `handleDisconnect` registered after them runs.
  client.on('close', onClose);
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  // Nest listens through ws's addEventListener, whose MessageEvent carries text as a string.
  const frame = isBinary ? data : data.toString();
  for (let binding = bindings.get(this); binding; binding = binding.next) {
    if (!binding.closed) dispatch(binding, frame);
  }
}

function onClose(this: WebSocket): void {
  let binding = bindings.get(this);
  while (binding?.closed) binding = binding.next;
  if (!binding) return;
  binding.closed = true;
  for (let stream = binding.inFlight; stream; stream = stream.older) stream.cancel();
  binding.inFlight = undefined;
}

function dispatch(binding: Binding, frame: WsData): void {
  const parser = binding.host.messageParser();
  let message: { event: unknown; data: unknown } | void;
  try {
    message = parser(frame);
  } catch (error) {
    // As Nest 12: the default parser throws on whatever a client sends, so logging it would
    // hand every client a log flood; a custom parser that throws is an application bug.
    if (!isNestDefaultParser(parser)) binding.host.logger.error(error);
    return;
  }
  if (!message) return;
  const handler = handlerFor(binding.handlers, message.event);
  if (!handler) return;
  let stream: Observable<unknown>;
  try {
    stream = binding.transform(handler.callback(message.data, message.event));
  } catch {
    // Nest drops a synchronous throw (its filters already ran inside the callback).
    return;
  }
  new InFlight(binding).start(stream);
}

/** The last handler for the event, as Nest's `Map` keeps the last `set` of a key. */
function handlerFor(handlers: readonly DispatchedHandler[], event: unknown): DispatchedHandler | undefined {
  // A scan beats a Map built per connection for the few handlers a gateway has, and allocates nothing.
  for (let index = handlers.length - 1; index >= 0; index--) {
    if (handlers[index]!.message === event) return handlers[index];
  }
  // A Map key compares NaN equal to NaN.
  if (typeof event === 'number' && Number.isNaN(event)) {
    return handlers.findLast((handler) => typeof handler.message === 'number' && Number.isNaN(handler.message));
  }
  return undefined;
}

/** One handler result being sent; the rxjs observer of its stream and a link in its binding's list. */
class InFlight {
  private subscription: Subscription | undefined = undefined;
  private ended = false;
  /** Neighbours in the binding's list, which starts at the newest. */
  newer: InFlight | undefined = undefined;
  older: InFlight | undefined = undefined;

  constructor(private readonly binding: Binding) {}

  start(stream: Observable<unknown>): void {
    const binding = this.binding;
    this.older = binding.inFlight;
    if (this.older) this.older.newer = this;
    binding.inFlight = this;
    const subscription = stream.subscribe(this);
    // A stream that ended (or was cancelled) while subscribing is already unlinked.
    if (this.ended) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  cancel(): void {
    this.ended = true;
    this.subscription?.unsubscribe();
  }

  // The observer itself, so a message costs no closures: rxjs calls these as methods.
  next(value: unknown): void {
    if (value === null || value === undefined) return;
    const socket = this.binding.socket;
    if (socket.readyState !== OPEN) return;
    try {
      socket.send(JSON.stringify(value));
    } catch (error) {
      // Nest lets this escape into rxjs, which rethrows it on a timer and ends the process;
      // a value that does not serialise is an app bug to log, not a crash any client can cause.
      this.binding.host.logger.error(error);
    }
  }

  error(error: unknown): void {
    // As Nest 12: only a filter that rethrows gets here; this stream ends, the socket lives on.
    this.unlink();
    this.binding.host.logger.error(error);
  }

  complete(): void {
    this.unlink();
  }

  private unlink(): void {
    if (this.ended) return;
    this.ended = true;
    const binding = this.binding;
    if (this.newer) this.newer.older = this.older;
    else if (binding.inFlight === this) binding.inFlight = this.older;
    if (this.older) this.older.newer = this.newer;
    this.newer = this.older = undefined;
  }
}

let defaultParser: { parser: WsMessageParser; source: string } | undefined;
let lastVerdict: { parser: WsMessageParser; isDefault: boolean } | undefined;

/**
 * Nest 12 compares the parser with its module-private default; Nest 11 makes a new default arrow
 * per adapter. A bare WsAdapter holds the default of the running major: the same function, or
 * (Nest 11) one with the same source. Asked only when a parser throws, and remembered.
 */
function isNestDefaultParser(parser: WsMessageParser): boolean {
  if (lastVerdict?.parser === parser) return lastVerdict.isDefault;
  if (!defaultParser) {
    const bare = new WsAdapter() as unknown as { messageParser: WsMessageParser };
    defaultParser = { parser: bare.messageParser, source: String(bare.messageParser) };
  }
  const isDefault = parser === defaultParser.parser || String(parser) === defaultParser.source;
  lastVerdict = { parser, isDefault };
  return isDefault;
}
