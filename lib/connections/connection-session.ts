import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { WsIdentity } from '../identity/ws-identity.js';
import { attachIdentity } from '../identity/identity-store.js';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import type { Peer } from '../telemetry/gateway-telemetry.js';
import { closeWith, sendEvent } from './close-with.js';
import { isPromiseLike, type MaybePromise } from '../handshake/maybe-promise.js';
import { toRefusal } from '../refusals/to-refusal.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Expiring, ExpiryScheduler } from './expiry-scheduler.js';
import type { IdentityChanges } from './identity-changes.js';
import { bindSession, sessionOf, unbindSession } from './session-of.js';

export { sessionOf };

/**
 * One authenticated connection: its identity, its registry entry and its place in the shared
 * expiry schedule. The close callback is a shared function, so a connection costs no closures.
 */
export class ConnectionSession implements Expiring {
  private scheduledKey?: number;
  private warned = false;

  constructor(
    readonly socket: WebSocket,
    private current: WsIdentity,
    /** Kept only when a refresh must hand it to `validate()` again. */
    readonly request: IncomingMessage | undefined,
    /** The upgrade's TCP socket, alive as long as the connection: its address is read only for an event. */
    readonly peer: Peer,
    readonly authenticator: HandshakeAuthenticator,
    private readonly registry: ConnectionRegistry,
    private readonly scheduler: ExpiryScheduler,
    private readonly changes?: IdentityChanges,
  ) {}

  get identity(): WsIdentity {
    return this.current;
  }

  open(): void {
    bindSession(this.socket, this);
    attachIdentity(this.socket, this.current);
    this.registry.add(this.socket, this.current.subject);
    // `on`, not `once`: 'close' fires once, and `once` would allocate a wrapper per socket.
    this.socket.on('close', endSession);
    this.schedule();
    this.authenticator.settings.telemetry.connectionOpened();
  }

  /** A refresh: same subject, new claims, roles and expiry. */
  replace(identity: WsIdentity): void {
    const previous = this.current;
    this.current = identity;
    attachIdentity(this.socket, identity);
    this.warned = false;
    this.schedule();
    this.changed(identity, previous);
  }

  /**
   * A re-check: same credential, so the same expiry; a new user or roles. The expiry warning
   * already sent is not sent again, and the schedule stays as it is.
   */
  revise(identity: WsIdentity): void {
    const previous = this.current;
    this.current = identity;
    attachIdentity(this.socket, identity);
    this.changed(identity, previous);
  }

  /**
   * What the gateway requires of a connection (class `@Roles`, connection guards) held for the
   * identity it opened with: judged again for the new one, or a demoted admin would keep a
   * socket on a gateway only admins may open, and a refresh to another tenant's token would
   * keep one the upgrade would refuse. A refusal closes with its close code (4403).
   */
  private changed(identity: WsIdentity, previous: WsIdentity): void {
    const { requirements } = this.authenticator;
    if (requirements) {
      let verdict: MaybePromise<void>;
      try {
        verdict = requirements.check(this.request!, identity);
      } catch (error) {
        return this.close(toRefusal(error, 'connection guards'));
      }
      if (isPromiseLike(verdict)) {
        verdict.then(undefined, (error: unknown) => {
          // A later identity is judged by its own check.
          if (sessionOf(this.socket) === this && this.current === identity) this.close(toRefusal(error, 'connection guards'));
        });
      }
    }
    this.changes?.notify(this.socket, identity, previous);
  }

  /** Idempotent: runs when the server closes for an auth reason, and again at 'close'. */
  end(): void {
    this.unschedule();
    this.registry.remove(this.socket, this.current.subject);
    if (sessionOf(this.socket) !== this) return;
    unbindSession(this.socket, this);
    this.authenticator.settings.telemetry.connectionEnded();
  }

  /** Closes for an auth reason: from here on, nothing of this connection acts. */
  close(reason: Parameters<typeof closeWith>[1], text?: string): void {
    closeWith(this.socket, reason, this.authenticator.settings, text);
  }

  /** Runs when the timer fires: warn once, then close at expiry. */
  tick(): void {
    this.scheduledKey = undefined;
    const expiresAt = this.current.expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    if (now >= expiresAt) return this.close('invalid_credential', 'Token Expired');
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
    this.unschedule();
    const expiresAt = this.current.expiresAt;
    if (expiresAt === undefined) return;
    const dueAt = this.warningMs > 0 && !this.warned ? expiresAt - this.warningMs : expiresAt;
    this.scheduledKey = this.scheduler.schedule(this, dueAt);
  }

  private unschedule(): void {
    if (this.scheduledKey === undefined) return;
    this.scheduler.cancel(this, this.scheduledKey);
    this.scheduledKey = undefined;
  }
}

function endSession(this: WebSocket): void {
  sessionOf(this)?.end();
}
