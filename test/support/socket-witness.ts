import WebSocket from 'ws';

export interface WitnessedFrame {
  readonly at: number;
  readonly text: string;
  readonly binary: boolean;
  readonly event?: string;
  readonly data?: any;
}

export interface WitnessedClose {
  readonly code: number;
  readonly reason: string;
  readonly at: number;
}

/**
 * Everything one client received, with arrival times, and how its socket closed. Attached as
 * soon as the socket opens, so frames the server sends unprompted (token_expiring) are kept
 * even when the test starts waiting for them later.
 */
export class SocketWitness {
  readonly frames: WitnessedFrame[] = [];
  /** When the socket opened (or, for a socket handed over already open, when watching began). */
  opened = Date.now();
  readonly closed: Promise<WitnessedClose>;
  private readonly consumed = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  constructor(readonly socket: WebSocket) {
    socket.once('open', () => (this.opened = Date.now()));
    socket.on('message', (raw, binary) => {
      const text = raw.toString();
      let parsed: { event?: string; data?: unknown } = {};
      try {
        parsed = JSON.parse(text) ?? {};
      } catch {
        // Kept as text: a leak check must see every byte, parsable or not.
      }
      this.frames.push({ at: Date.now(), text, binary, event: parsed.event, data: parsed.data });
      for (const wake of [...this.waiters]) wake();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString(), at: Date.now() });
        for (const wake of [...this.waiters]) wake();
      }),
    );
  }

  /** Frames of one event, in arrival order. */
  events(event: string): WitnessedFrame[] {
    return this.frames.filter((frame) => frame.event === event);
  }

  /** All the client saw, as one string to search for a credential. */
  seen(close?: WitnessedClose): string {
    return [...this.frames.map((frame) => frame.text), close?.reason ?? ''].join('\n');
  }

  /** The next `event` frame not returned before; fails when the socket closes first. */
  next(event: string, timeoutMs = 3000): Promise<WitnessedFrame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.frames.findIndex((frame, i) => frame.event === event && i >= (this.consumed.get(event) ?? 0));
        if (index !== -1) {
          this.consumed.set(event, index + 1);
          return done(() => resolve(this.frames[index]));
        }
        if (this.socket.readyState === WebSocket.CLOSED) {
          return done(() => reject(new Error(`socket closed before "${event}" (frames: ${JSON.stringify(this.frames.map((f) => f.text))})`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  send(event: string, data?: unknown): void {
    this.socket.send(JSON.stringify({ event, data }));
  }

  /** Sends `event` and waits for the `reply` frame. */
  request(event: string, data?: unknown, reply = event, timeoutMs?: number): Promise<WitnessedFrame> {
    const answer = this.next(reply, timeoutMs);
    this.send(event, data);
    return answer;
  }

  /** The in-band (or refresh) `authenticate` frame, answered by `authenticated`. */
  authenticate(token: string, timeoutMs?: number): Promise<WitnessedFrame> {
    return this.request('authenticate', { token }, 'authenticated', timeoutMs);
  }

  close(): Promise<WitnessedClose> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    return this.closed;
  }
}

/**
 * Opens a socket watched from before its first byte. Watching after `open` resolves is too
 * late: a frame that arrives with the 101 response is emitted on the next tick, ahead of
 * any promise continuation.
 */
export function openWitnessed(url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<SocketWitness> {
  const witness = new SocketWitness(new WebSocket(url, options.protocols ?? [], { headers: options.headers }));
  return new Promise((resolve, reject) => {
    witness.socket.once('open', () => resolve(witness));
    witness.socket.once('unexpected-response', (_request, response) => {
      response.resume();
      reject(new Error(`expected an open socket, got HTTP ${response.statusCode}`));
    });
    witness.socket.once('error', (error) => reject(new Error(`expected an open socket, got ${error.message}`)));
  });
}

/** Retries `probe` until it holds: for state that settles on the server a moment after the client sees it. */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
