import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import { ConnectionRegistry } from './connection-registry.js';
import { ConnectionSession, sessionOf } from './connection-session.js';
import { ExpiryScheduler } from './expiry-scheduler.js';
import { IdentityChanges, type IdentityChangeListener } from './identity-changes.js';
import { Revalidation } from './revalidation.js';
import { RevalidationSweep } from './revalidation-sweep.js';
import { DISCONNECT_TEXT, disconnectReason, WsConnectionBus, type WsDisconnectReason, type WsRevalidateCommand } from './ws-connection-bus.js';

export interface WsConnection<User = unknown> {
  readonly client: WebSocket;
  readonly identity: WsIdentity<User>;
}

/**
 * The open authenticated connections of this instance, across every gateway, and the one
 * place to close them: `disconnect(subject)` closes the subject's sockets here with 4403
 * and tells every other instance to do the same through the configured bus. To also keep the
 * subject's credentials from opening new sockets, revoke them with `WsRevocations`.
 *
 * `revalidate(subject)` runs the gateway's `validate()` again on the subject's connections on
 * every instance (after a role change or a deletion); `revalidateIntervalMs` does the same for
 * every connection, spread over the interval.
 */
const IN_FLIGHT_MARGIN_MS = 1000;
// Longer than any sensible verifyTimeoutMs twice over; entries are dropped oldest first.
const FORGET_REVALIDATION_AFTER_MS = 5 * 60_000;

@Injectable()
export class WsConnections implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('WsAuth');
  private readonly registry = new ConnectionRegistry();
  private readonly scheduler = new ExpiryScheduler();
  private readonly changes = new IdentityChanges();
  /** @internal */
  readonly revalidation = new Revalidation();
  // Names this instance on the bus, so it skips the re-checks it asked for itself.
  private readonly origin = randomUUID();
  private sweep?: RevalidationSweep;
  // When each subject was last re-checked here: a connection whose authentication was under
  // way then (validate() answered before the change) is re-checked as soon as it is tracked.
  private readonly revalidatedAt = new Map<string, number>();
  private localOnlyWarned = false;

  constructor(
    private readonly bus: WsConnectionBus,
    /** Absent when constructed by hand (tests): no periodic re-checks then. */
    @Optional() private readonly config?: WsAuthConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bus.subscribeRevalidate?.((command) => this.onRevalidateCommand(command));
    await this.bus.subscribe((command) => this.closeLocal(command.subject, command.reason));
    const intervalMs = this.config?.revalidateIntervalMs ?? 0;
    if (intervalMs > 0) {
      this.sweep = new RevalidationSweep(
        intervalMs,
        this.registry,
        (session) => this.revalidation.recheck(session),
        (session) => this.revalidation.recheckable(session),
      );
    }
  }

  onModuleDestroy(): void {
    this.sweep?.stop();
    this.sweep = undefined;
  }

  list<User = unknown>(subject?: string): WsConnection<User>[] {
    const sockets = subject === undefined ? this.registry.all() : this.registry.of(subject);
    const connections: WsConnection<User>[] = [];
    for (const client of sockets) {
      const session = sessionOf(client);
      if (session) connections.push({ client, identity: session.identity as WsIdentity<User> });
    }
    return connections;
  }

  count(subject?: string): number {
    return subject === undefined ? this.registry.size : this.registry.of(subject).size;
  }

  /**
   * Closes every socket of `subject` on every instance with 4403 and the reason's fixed text;
   * resolves with how many were open here. Rejects when other instances could not be told
   * (the sockets here are closed first, whatever the bus does).
   */
  async disconnect(subject: string, reason: WsDisconnectReason = 'revoked'): Promise<number> {
    // '' is where connections without a subject are filed: never a target by accident.
    if (typeof subject !== 'string' || subject === '') throw new TypeError('WsConnections: disconnect() needs a non-empty subject.');
    const known = disconnectReason(reason);
    const closed = this.closeLocal(subject, known);
    try {
      await this.bus.publish({ subject, reason: known });
    } catch (error) {
      this.logger.error(`Could not tell other instances to disconnect a subject: ${(error as Error)?.name}`);
      throw error;
    }
    return closed;
  }

  /**
   * Runs the gateway's `validate()` (and `rolesOf`) again on every connection of `subject`,
   * here and, through the bus, on every other instance: a refusal closes the connection with
   * its close code (4401, 4403), an accepted user replaces the identity in place (new roles
   * apply to the next message), and the expiry stays that of the credential. Resolves once the
   * re-checks here have settled, with how many connections here were re-checked (closed ones
   * included; identities with nothing to re-check, see `Revalidation`, are not counted).
   * Rejects when other instances could not be told (the work here is done first). A bus
   * without re-check support reaches this instance only, with one warning.
   */
  async revalidate(subject: string): Promise<number> {
    if (typeof subject !== 'string' || subject === '') throw new TypeError('WsConnections: revalidate() needs a non-empty subject.');
    const local = this.revalidateLocal(subject);
    if (!this.bus.publishRevalidate) {
      this.warnLocalOnly();
      return local;
    }
    try {
      await this.bus.publishRevalidate({ subject, origin: this.origin });
    } catch (error) {
      await local;
      this.logger.error(`Could not tell other instances to re-check a subject: ${(error as Error)?.name}`);
      throw error;
    }
    return local;
  }

  /**
   * @internal Called synchronously after every in-place identity replacement (a refresh, a
   * re-check that changed the user or roles). A listener that throws is logged by error name
   * and does not stop the others.
   */
  onIdentityChanged(listener: IdentityChangeListener): void {
    this.changes.add(listener);
  }

  /** @internal Closes this instance's sockets whose identity `revoked` says is revoked. */
  closeWhere(revoked: (identity: WsIdentity) => boolean, reason: WsDisconnectReason, subject?: string): number {
    const sockets = subject === undefined ? this.registry.all() : this.registry.of(subject);
    const doomed: ConnectionSession[] = [];
    for (const socket of sockets) {
      const session = sessionOf(socket);
      if (session && revoked(session.identity)) doomed.push(session);
    }
    // Closing removes from the registry: collect first, then close.
    for (const session of doomed) session.close('revoked', DISCONNECT_TEXT[disconnectReason(reason)]);
    return doomed.length;
  }

  /** @internal Called by WsAuthAdapter once a connection is authenticated. */
  track(socket: WebSocket, identity: WsIdentity, request: IncomingMessage, authenticator: HandshakeAuthenticator): ConnectionSession {
    // The upgrade request is the largest thing a connection could keep alive; only a refresh
    // or a re-check that calls validate(claims, request) again, or connection guards judging a
    // changed identity, need it.
    const kept = authenticator.settings.jwt?.validate || authenticator.requirements ? request : undefined;
    const session = new ConnectionSession(socket, identity, kept, request.socket, authenticator, this.registry, this.scheduler, this.changes);
    session.open();
    if (this.revalidatedAt.size > 0 && identity.subject !== undefined) this.recheckIfAuthenticatedDuringRevalidation(session, identity.subject);
    return session;
  }

  private closeLocal(subject: string, reason: WsDisconnectReason): number {
    return this.closeWhere(() => true, reason, subject);
  }

  /**
   * An authentication takes at most its verification deadline, twice (credential and validate,
   * then connection guards): a re-check of the subject within that window may have been decided
   * before this connection's validate() answered, and did not see it.
   */
  private recheckIfAuthenticatedDuringRevalidation(session: ConnectionSession, subject: string): void {
    const at = this.revalidatedAt.get(subject);
    if (at === undefined) return;
    if (Date.now() - at > 2 * session.authenticator.settings.verifyTimeoutMs + IN_FLIGHT_MARGIN_MS) return;
    if (this.revalidation.recheckable(session)) void this.revalidation.recheck(session);
  }

  private noteRevalidation(subject: string): void {
    const now = Date.now();
    this.revalidatedAt.delete(subject);
    this.revalidatedAt.set(subject, now);
    // Oldest first (re-inserted above): forget what no authentication can still be waiting on.
    for (const [known, at] of this.revalidatedAt) {
      if (now - at <= FORGET_REVALIDATION_AFTER_MS) break;
      this.revalidatedAt.delete(known);
    }
  }

  private async revalidateLocal(subject: string): Promise<number> {
    this.noteRevalidation(subject);
    const checked: Promise<unknown>[] = [];
    // Copied first: a re-check that closes a connection removes it from the registry.
    for (const socket of [...this.registry.of(subject)]) {
      const session = sessionOf(socket);
      if (session && this.revalidation.recheckable(session)) checked.push(this.revalidation.recheck(session));
    }
    await Promise.all(checked);
    return checked.length;
  }

  private onRevalidateCommand(command: WsRevalidateCommand): void {
    if (command.origin === this.origin) return;
    void this.revalidateLocal(command.subject);
  }

  private warnLocalOnly(): void {
    if (this.localOnlyWarned) return;
    this.localOnlyWarned = true;
    this.logger.warn('The connection bus does not carry re-checks (no publishRevalidate): revalidate() reaches this instance only');
  }
}
