import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { toRefusal } from '../refusals/to-refusal.js';
import { closeWith } from './close-with.js';

const pending = new WeakMap<WebSocket, InBandAuthentication>();
const byTransport = new WeakMap<object, InBandAuthentication>();

export function pendingAuthenticationOf(socket: WebSocket): InBandAuthentication | undefined {
  return pending.get(socket);
}

// RFC 6455 section 7.4.1: 1009, a message too big to process.
const MESSAGE_TOO_BIG = 1009;
// The largest client frame header (RFC 6455 section 5.2): 2 + 8 length + 4 mask bytes.
const MAX_FRAME_HEADER = 14;
const DRAIN_GRACE_MS = 1000;

/**
 * A socket accepted without credentials that must send `authenticate` within a deadline.
 * Until then Nest has not been told about it: no handleConnection, no handler sees a frame.
 */
export class InBandAuthentication {
  private timer?: NodeJS.Timeout;
  private verifying = false;
  private rawBytes = 0;
  /** Nest's connection callback, held back until the socket has authenticated. */
  deferred?: () => void;

  constructor(
    readonly socket: WebSocket,
    readonly request: IncomingMessage,
    readonly authenticator: HandshakeAuthenticator,
    private readonly onAuthenticated: (auth: InBandAuthentication, identity: WsIdentity) => void,
    private readonly onSettled: () => void,
    /** The adapter's message parser: the first frame is read as every later one will be. */
    private readonly parse: (text: string) => unknown,
  ) {}

  start(): void {
    pending.set(this.socket, this);
    this.timer = setTimeout(authenticationTimedOut, this.authenticator.settings.authTimeoutMs, this);
    this.timer.unref();
    this.socket.on('message', receivePreAuthFrame);
    this.socket.once('close', abandonAuthentication);
    // ws buffers a frame until it is complete (up to its maxPayload, 100 MiB by default), so the
    // cap is enforced on the bytes as they arrive, not only on whole messages.
    byTransport.set(this.request.socket, this);
    this.request.socket.on('data', countPreAuthBytes);
    this.authenticator.settings.telemetry.pendingStarted();
  }

  countRaw(bytes: number): void {
    this.rawBytes += bytes;
    if (this.rawBytes <= this.authenticator.settings.maxPreAuthBytes + MAX_FRAME_HEADER) return;
    this.tooBig();
    // Stop reading what the peer keeps streaming; the close frame still goes out.
    this.request.socket.pause();
    setTimeout(terminateSocket, DRAIN_GRACE_MS, this.socket).unref();
  }

  receive(data: RawData, isBinary: boolean): void {
    // Anything but one `authenticate` frame, including a second frame sent while the first
    // is being verified, ends the connection: an unauthenticated peer gets no dialogue.
    if (this.verifying || isBinary) return this.fail('invalid_credential');
    if (byteLength(data) > this.authenticator.settings.maxPreAuthBytes) return this.tooBig();
    const token = readAuthenticateToken(data, this.parse);
    if (token === undefined) return this.fail('invalid_credential');
    this.verifying = true;
    this.authenticator.identifyToken(token, this.request, 'message').then(
      (identity) => {
        if (this.socket.readyState !== 1) return this.settle();
        this.settle();
        this.onAuthenticated(this, identity);
      },
      (error: unknown) => this.fail(toRefusal(error, 'in-band authenticate')),
    );
  }

  timeout(): void {
    this.fail('authentication_timeout');
  }

  /** Stops listening as a pending socket; idempotent. */
  settle(): void {
    if (!pending.has(this.socket)) return;
    pending.delete(this.socket);
    clearTimeout(this.timer);
    this.socket.off('message', receivePreAuthFrame);
    this.socket.off('close', abandonAuthentication);
    this.request.socket.off('data', countPreAuthBytes);
    byTransport.delete(this.request.socket);
    this.onSettled();
    this.authenticator.settings.telemetry.pendingEnded();
  }

  private tooBig(): void {
    this.settle();
    if (this.socket.readyState === 1) this.socket.close(MESSAGE_TOO_BIG, 'Message Too Big');
  }

  private fail(reason: Parameters<typeof closeWith>[1]): void {
    this.settle();
    closeWith(this.socket, reason, this.authenticator.settings, undefined, this.request.socket);
  }
}

function readAuthenticateToken(data: RawData, parse: (text: string) => unknown): string | undefined {
  let frame: unknown;
  try {
    frame = parse(data.toString());
  } catch {
    // A parser that throws on a stranger's frame refuses it; nothing is logged for a stranger.
    return undefined;
  }
  if (typeof frame !== 'object' || frame === null) return undefined;
  const { event, data: payload } = frame as { event?: unknown; data?: unknown };
  if (event !== 'authenticate' || typeof payload !== 'object' || payload === null) return undefined;
  const token = (payload as { token?: unknown }).token;
  return typeof token === 'string' ? token : undefined;
}

function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, chunk) => sum + chunk.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}

function receivePreAuthFrame(this: WebSocket, data: RawData, isBinary: boolean): void {
  pending.get(this)?.receive(data, isBinary);
}

function authenticationTimedOut(auth: InBandAuthentication): void {
  auth.timeout();
}

function abandonAuthentication(this: WebSocket): void {
  pending.get(this)?.settle();
}

function countPreAuthBytes(this: object, chunk: Buffer): void {
  byTransport.get(this)?.countRaw(chunk.length);
}

function terminateSocket(socket: WebSocket): void {
  socket.terminate();
}
