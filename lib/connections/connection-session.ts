import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { WsIdentity } from '../identity/ws-identity.js';
import { attachIdentity } from '../identity/identity-store.js';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import { closeWith, sendEvent } from './close-with.js';
import type { ConnectionRegistry } from './connection-registry.js';

// setTimeout's ceiling (about 24.8 days); a later expiry is reached in several hops.
const MAX_DELAY_MS = 2 ** 31 - 1;

const sessions = new WeakMap<WebSocket, ConnectionSession>();

export function sessionOf(socket: WebSocket): ConnectionSession | undefined {
  return sessions.get(socket);
}

/**
 * One authenticated connection: its identity, its registry entry and its one expiry timer.
 * Timer and close callbacks are shared functions that get the session as an argument, so a
 * connection costs no closures.
 */
export class ConnectionSession {
  private timer?: NodeJS.Timeout;
  private warned = false;

  constructor(
    readonly socket: WebSocket,
    private current: WsIdentity,
    readonly request: IncomingMessage,
    readonly authenticator: HandshakeAuthenticator,
    private readonly registry: ConnectionRegistry,
  ) {}

  get identity(): WsIdentity {
    return this.current;
  }

  open(): void {
    sessions.set(this.socket, this);
    attachIdentity(this.socket, this.current);
    this.registry.add(this.socket, this.current.subject);
    this.socket.once('close', endSession);
    this.schedule();
  }

  /** A refresh: same subject, new claims, roles and expiry. */
  replace(identity: WsIdentity): void {
    this.current = identity;
    attachIdentity(this.socket, identity);
    this.warned = false;
    this.schedule();
  }

  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.registry.remove(this.socket, this.current.subject);
    sessions.delete(this.socket);
  }

  /** Runs when the timer fires: warn once, then close at expiry. */
  tick(): void {
    const expiresAt = this.current.expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    if (now >= expiresAt) return closeWith(this.socket, 'invalid_credential', 'Token Expired');
    if (!this.warned && now >= expiresAt - this.warningMs) {
      this.warned = true;
      sendEvent(this.socket, 'token_expiring', { expiresAt });
    }
    this.schedule();
  }

  private get warningMs(): number {
    return this.authenticator.settings.expiryWarningMs;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const expiresAt = this.current.expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    const warnAt = this.warningMs > 0 && !this.warned ? expiresAt - this.warningMs : expiresAt;
    const delay = Math.min(Math.max(warnAt - now, 0), MAX_DELAY_MS);
    this.timer = setTimeout(tickSession, delay, this);
    // The timer serves a socket; it must not keep a process alive that is shutting down.
    this.timer.unref();
  }
}

function tickSession(session: ConnectionSession): void {
  session.tick();
}

function endSession(this: WebSocket): void {
  sessions.get(this)?.end();
}
