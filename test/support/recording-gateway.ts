import { UseGuards } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, type OnGatewayConnection, type OnGatewayDisconnect } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { getWsIdentity, Roles, WsAuthGuard, WsRolesGuard, WsUser, type WsAuthGatewayOptions } from '../../lib/index.js';

export interface Dispatch {
  readonly gateway: string;
  /** `connection`, `disconnect` or the handler's event. */
  readonly event: string;
  readonly subject?: string;
}

/**
 * Every call Nest made into a recording gateway. The client cannot tell "dropped" from
 * "handled but unanswered" (the socket may be closed before a reply), so tests that prove
 * a frame was never dispatched read this instead.
 */
export const dispatchLog: Dispatch[] = [];

export function dispatchesOf(gateway: string, event?: string): Dispatch[] {
  return dispatchLog.filter((entry) => entry.gateway === gateway && (event === undefined || entry.event === event));
}

/** A gateway whose lifecycle hooks and handlers record themselves in `dispatchLog`. */
export function makeRecordingGateway(name: string, options: { path: string; wsAuth?: WsAuthGatewayOptions }) {
  const record = (event: string, client: WebSocket) => dispatchLog.push({ gateway: name, event, subject: getWsIdentity(client)?.subject });

  class RecordingGateway implements OnGatewayConnection, OnGatewayDisconnect {
    handleConnection(client: WebSocket) {
      record('connection', client);
    }

    handleDisconnect(client: WebSocket) {
      record('disconnect', client);
    }

    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown, @ConnectedSocket() client: WebSocket) {
      record('echo', client);
      return { event: 'echo', data: body };
    }

    @SubscribeMessage('whoami')
    whoami(@WsUser() user: unknown, @ConnectedSocket() client: WebSocket) {
      record('whoami', client);
      const identity = getWsIdentity(client);
      return {
        event: 'whoami',
        data: { gateway: name, user, subject: identity?.subject, roles: identity?.roles, source: identity?.source, expiresAt: identity?.expiresAt },
      };
    }

    @UseGuards(WsAuthGuard)
    @SubscribeMessage('guarded')
    guarded(@ConnectedSocket() client: WebSocket) {
      record('guarded', client);
      return { event: 'guarded', data: 'ok' };
    }

    @UseGuards(WsRolesGuard)
    @Roles('admin')
    @SubscribeMessage('admin')
    admin(@ConnectedSocket() client: WebSocket) {
      record('admin', client);
      return { event: 'admin', data: 'ok' };
    }
  }
  Object.defineProperty(RecordingGateway, 'name', { value: name });
  WebSocketGateway(0, options)(RecordingGateway);
  return RecordingGateway;
}
