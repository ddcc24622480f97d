/**
 * The client half of nestjs-ws-auth: connects with a ticket, the `bearer.<jwt>` subprotocol,
 * the cookie, an `Authorization` header (Node, with `ws`) or in-band `authenticate`; refreshes the token over the open socket when the
 * server warns it is expiring; reconnects with backoff and jitter after 4401/4408 and network
 * loss; stops for good on 4403. No dependencies and no imports: it runs in browsers and in Node
 * (pass `WebSocket` from `ws` where there is no global one), and can be served as one file.
 */

/** How the client proves who it is. Each connect asks anew, so a reconnect never reuses a spent ticket. */
export type WsAuthClientCredential =
  | { mode: 'ticket'; fetchTicket: () => Promise<string> }
  | { mode: 'subprotocol'; protocol: string }
  | { mode: 'cookie' }
  /**
   * `Authorization: Bearer <getToken()>` on the upgrade. Browsers cannot set headers on a
   * WebSocket: this mode needs a constructor that takes them, such as `ws`'s (options.WebSocket).
   */
  | { mode: 'header'; protocols?: string[] }
  | { mode: 'in-band' };

export type WsAuthClientState = 'idle' | 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'stopped';

export interface WsAuthClientClock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WsAuthClientOptions {
  url: string;
  credential: WsAuthClientCredential;
  /** A fresh access token: for the subprotocol, the header, in-band `authenticate`, and every refresh. Called lazily. */
  getToken?: () => Promise<string>;
  /** A WebSocket constructor; default: the global one. */
  WebSocket?: WebSocketConstructorLike;
  /** Backoff between reconnects: delays grow by `factor` up to `maxDelayMs`, with jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; factor?: number; maxAttempts?: number };
  /** Called after every reconnect that reached `open`: resubscribe here. */
  onReconnect?: () => void;
  clock?: WsAuthClientClock;
  random?: () => number;
}

export interface WsAuthClientCloseInfo {
  code: number;
  reason: string;
}

type Listener = (data: any) => void;
type EventData<Incoming, K> = K extends keyof WsAuthClientEvents ? WsAuthClientEvents[K] : K extends keyof Incoming ? Incoming[K] : never;

// The parts of the WebSocket API this client uses, met by browsers' WebSocket and `ws`.
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}

export type WebSocketConstructorLike = new (
  url: string,
  protocols?: string | string[],
  // Only `ws` and other Node clients take a third argument; the header mode needs it.
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

const OPEN = 1;
const CLOSE_FORBIDDEN = 4403;
const NORMAL_CLOSURE = 1000;

/**
 * The events the server library and this client emit themselves, with their payloads: always
 * typed, whatever the app's own events are.
 */
export interface WsAuthClientEvents {
  state: WsAuthClientState;
  refreshed: { expiresAt: number | null };
  stopped: WsAuthClientCloseInfo;
  authenticated: { expiresAt: number | null };
  token_expiring: { expiresAt: number };
  topic_expiring: { topic: string; expiresAt: number };
  unsubscribed: { topic: string; reason: 'expired' | 'forbidden' };
  exception: { status: 'error'; message: string; code?: string };
}

/**
 * `Incoming`: the app's server events and their `data`, for `on()`; `Outgoing`: what `send()`
 * may send (default: the same map, as before the two were told apart).
 */
export class WsAuthClient<Incoming extends Record<string, unknown> = Record<string, any>, Outgoing extends Record<string, unknown> = Incoming> {
  private socket?: WebSocketLike;
  private currentState: WsAuthClientState = 'idle';
  private attempt = 0;
  private timer?: unknown;
  private connectedOnce = false;
  // Bumped by every connect and close, so an open() that resumes after an await can tell
  // that it has been superseded and must not create a socket nobody listens to.
  private generation = 0;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly clock: WsAuthClientClock;
  private readonly random: () => number;
  private readonly Ctor: WebSocketConstructorLike;

  constructor(private readonly options: WsAuthClientOptions) {
    if (options.credential?.mode === 'header' && !options.WebSocket) {
      throw new Error('WsAuthClient: header mode needs options.WebSocket that takes headers (for example from "ws"); browsers cannot send them.');
    }
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
    if (!Ctor) throw new Error('WsAuthClient: no WebSocket available; pass options.WebSocket (for example from "ws").');
    const { credential, getToken } = options;
    if ((credential.mode === 'subprotocol' || credential.mode === 'in-band' || credential.mode === 'header') && !getToken) {
      throw new Error(`WsAuthClient: ${credential.mode} mode needs getToken().`);
    }
    this.Ctor = Ctor;
    this.clock = options.clock ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (handle) => clearTimeout(handle as never) };
    this.random = options.random ?? Math.random;
  }

  get state(): WsAuthClientState {
    return this.currentState;
  }

  /** Opens the connection; later drops are recovered by themselves until `close()` or a 4403. */
  connect(): void {
    if (this.currentState !== 'idle' && this.currentState !== 'stopped') return;
    this.attempt = 0;
    this.generation++;
    void this.open();
  }

  /** Sends `{event, data}` when open; answers whether it was sent. */
  send<K extends keyof Outgoing & string>(event: K, data?: Outgoing[K]): boolean {
    if (this.currentState !== 'open' || this.socket?.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify({ event, data }));
    return true;
  }

  /**
   * Listens for a server event, or one of the client's own: `state` (the new state),
   * `refreshed` (a refresh was accepted), `stopped` (close info of a 4403, or of `close()`).
   */
  on<K extends (keyof Incoming & string) | keyof WsAuthClientEvents>(event: K, listener: (data: EventData<Incoming, K>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set!.delete(listener);
  }

  close(): void {
    this.generation++;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this.setState('stopped');
    socket?.close(NORMAL_CLOSURE, 'client closed');
    this.emit('stopped', { code: NORMAL_CLOSURE, reason: 'client closed' });
  }

  private async open(): Promise<void> {
    const generation = this.generation;
    this.setState(this.connectedOnce ? 'reconnecting' : 'connecting');
    let socket: WebSocketLike;
    try {
      const { url, protocols, headers } = await this.target();
      if (generation !== this.generation) return;
      socket = headers ? new this.Ctor(url, protocols ?? [], { headers }) : new this.Ctor(url, protocols);
    } catch {
      if (generation === this.generation) this.retry();
      return;
    }
    this.socket = socket;
    // `ws` emits 'error' before 'close' for a refused upgrade or an unreachable server, and
    // an unheard 'error' throws in Node; the close event that follows drives the retry.
    socket.addEventListener('error', () => undefined);
    socket.addEventListener('open', () => void this.onOpen(socket));
    socket.addEventListener('message', (event) => this.onMessage(socket, event.data));
    socket.addEventListener('close', (event) => this.onClose(socket, event));
  }

  private async target(): Promise<{ url: string; protocols?: string[]; headers?: Record<string, string> }> {
    const { url, credential, getToken } = this.options;
    switch (credential.mode) {
      case 'ticket': {
        const ticket = await credential.fetchTicket();
        return { url: `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}` };
      }
      case 'subprotocol':
        return { url, protocols: [credential.protocol, `bearer.${await getToken!()}`] };
      case 'header':
        return { url, protocols: credential.protocols, headers: { Authorization: `Bearer ${await getToken!()}` } };
      default:
        return { url };
    }
  }

  private async onOpen(socket: WebSocketLike): Promise<void> {
    if (socket !== this.socket) return;
    if (this.options.credential.mode !== 'in-band') return this.opened();
    this.setState('authenticating');
    try {
      this.sendAuthenticate(socket, await this.options.getToken!());
    } catch {
      socket.close(NORMAL_CLOSURE, 'no token');
    }
  }

  private opened(): void {
    const reconnected = this.connectedOnce;
    this.connectedOnce = true;
    this.attempt = 0;
    this.setState('open');
    if (reconnected) this.options.onReconnect?.();
  }

  private onMessage(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket || typeof raw !== 'string') return;
    let frame: { event?: unknown; data?: unknown };
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof frame?.event !== 'string') return;
    if (frame.event === 'authenticated') {
      if (this.currentState === 'authenticating') this.opened();
      else this.emit('refreshed', frame.data);
    } else if (frame.event === 'token_expiring') {
      void this.refresh(socket);
    }
    this.emit(frame.event, frame.data);
  }

  /** A fresh token over the open socket: the connection and its subscriptions stay. */
  private async refresh(socket: WebSocketLike): Promise<void> {
    if (!this.options.getToken) return;
    try {
      this.sendAuthenticate(socket, await this.options.getToken());
    } catch {
      // No fresh token: the server closes with 4401 at expiry, and reconnecting asks again.
    }
  }

  private sendAuthenticate(socket: WebSocketLike, token: string): void {
    if (socket === this.socket && socket.readyState === OPEN) {
      socket.send(JSON.stringify({ event: 'authenticate', data: { token } }));
    }
  }

  private onClose(socket: WebSocketLike, { code, reason }: WsAuthClientCloseInfo): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    if (code === CLOSE_FORBIDDEN) {
      this.setState('stopped');
      this.emit('stopped', { code, reason });
      return;
    }
    // 4401 (expired or refused) and 4408 (too slow to authenticate) mean "again, with a fresh
    // credential", which every reconnect fetches; other codes are network loss or a restart.
    this.retry();
  }

  private retry(): void {
    if (this.currentState === 'stopped') return;
    const { initialDelayMs = 500, maxDelayMs = 30_000, factor = 2, maxAttempts = Infinity } = this.options.reconnect ?? {};
    if (this.attempt >= maxAttempts) {
      this.setState('stopped');
      this.emit('stopped', { code: 0, reason: 'gave up reconnecting' });
      return;
    }
    const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** this.attempt++);
    // "Equal jitter": half fixed, half random, so a fleet of clients does not reconnect in step.
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    this.setState('reconnecting');
    this.timer = this.clock.setTimeout(() => void this.open(), delay);
  }

  private setState(state: WsAuthClientState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private emit(event: string, data: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) listener(data);
  }
}
