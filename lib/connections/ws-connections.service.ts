import type { IncomingMessage } from 'node:http';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { ConnectionRegistry } from './connection-registry.js';
import { ConnectionSession, sessionOf } from './connection-session.js';
import { ExpiryScheduler } from './expiry-scheduler.js';
import { DISCONNECT_TEXT, disconnectReason, WsConnectionBus, type WsDisconnectReason } from './ws-connection-bus.js';

export interface WsConnection<User = unknown> {
  readonly client: WebSocket;
  readonly identity: WsIdentity<User>;
}

/**
 * The open authenticated connections of this instance, across every gateway, and the one
 * place to close them: `disconnect(subject)` closes the subject's sockets here with 4403
 * and tells every other instance to do the same through the configured bus. To also keep the
 * subject's credentials from opening new sockets, revoke them with `WsRevocations`.
 */
@Injectable()
export class WsConnections implements OnModuleInit {
  private readonly logger = new Logger('WsAuth');
  private readonly registry = new ConnectionRegistry();
  private readonly scheduler = new ExpiryScheduler();

  constructor(private readonly bus: WsConnectionBus) {}

  async onModuleInit(): Promise<void> {
    await this.bus.subscribe((command) => this.closeLocal(command.subject, command.reason));
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
    // that calls validate(claims, request) again needs it.
    const kept = authenticator.settings.jwt?.validate ? request : undefined;
    const session = new ConnectionSession(socket, identity, kept, request.socket, authenticator, this.registry, this.scheduler);
    session.open();
    return session;
  }

  private closeLocal(subject: string, reason: WsDisconnectReason): number {
    return this.closeWhere(() => true, reason, subject);
  }
}
