import type { WebSocketConstructorLike, WebSocketLike } from '../../lib/client/ws-auth-client.js';

type EventName = 'open' | 'message' | 'close' | 'error';

/**
 * A WebSocket without a network: the test plays the server (`accept`, `deliver`, `drop`) and
 * reads what the client asked for (`url`, `protocols`, `frames`, `closedWith`).
 */
export class FakeWebSocket implements WebSocketLike {
  readyState = 0;
  protocol = '';
  readonly sent: string[] = [];
  closedWith?: { code?: number; reason?: string };
  private readonly listeners: Record<EventName, Array<(event: any) => void>> = { open: [], message: [], close: [], error: [] };

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {}

  addEventListener(type: EventName, listener: (event: any) => void): void {
    this.listeners[type].push(listener);
  }

  send(data: string): void {
    // A real WebSocket throws when CONNECTING; sending then is a client bug worth seeing.
    if (this.readyState !== 1) throw new Error(`send() while readyState is ${this.readyState}`);
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    if (this.readyState < 2) this.readyState = 2;
  }

  /** The frames the client sent, parsed. */
  get frames(): Array<{ event: string; data?: any }> {
    return this.sent.map((text) => JSON.parse(text));
  }

  accept(protocol = ''): void {
    this.readyState = 1;
    this.protocol = protocol;
    this.emit('open', {});
  }

  deliver(frame: unknown): void {
    this.emit('message', { data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.emit('close', { code, reason });
  }

  private emit(type: EventName, event: unknown): void {
    for (const listener of this.listeners[type]) listener(event);
  }
}

/** A constructor to hand to the client, and every socket it made, newest last. */
export function fakeWebSockets(): { WebSocket: WebSocketConstructorLike; sockets: FakeWebSocket[] } {
  const sockets: FakeWebSocket[] = [];
  class RecordedWebSocket extends FakeWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  return { WebSocket: RecordedWebSocket, sockets };
}
