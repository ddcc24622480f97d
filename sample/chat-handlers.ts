import { Injectable } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketServer } from '@nestjs/websockets';
import type { WebSocketServer as WsServer } from 'ws';
import { getWsIdentity, Roles, WsConnections, WsUser } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import type { SampleUser } from './users.service.js';
import { UsersService } from './users.service.js';

/**
 * The events both sample gateways speak. Each gateway (handshake `/chat`, in-band `/live`)
 * extends this class, so each broadcasts to its own clients.
 */
// @Injectable() makes TypeScript emit the constructor's parameter types, which the
// gateways inherit: without a class decorator here, Nest would inject nothing.
@Injectable()
export abstract class ChatHandlers {
  @WebSocketServer()
  protected readonly server!: WsServer;

  constructor(
    private readonly connections: WsConnections,
    private readonly users: UsersService,
  ) {}

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: SampleUser) {
    return { event: 'whoami', data: { username: user.username, roles: user.roles } };
  }

  // The sender comes from the connection's identity, never from the payload.
  @SubscribeMessage('chat')
  chat(@WsUser('username') from: string, @MessageBody() body: unknown) {
    const text = typeof (body as { text?: unknown } | null)?.text === 'string' ? (body as { text: string }).text : '';
    const frame = JSON.stringify({ event: 'chat', data: { from, text } });
    // server.clients also lists in-band sockets still waiting to authenticate: skip those.
    for (const client of this.server.clients) if (client.readyState === 1 && getWsIdentity(client)) client.send(frame);
  }

  /** Open authenticated sockets of this instance, on both gateways. */
  @Roles('admin')
  @SubscribeMessage('admin:stats')
  stats() {
    return { event: 'admin:stats', data: { connections: this.connections.count() } };
  }

  /** Closes every socket of a user, on every instance, with 4403. */
  @Roles('admin')
  @SubscribeMessage('admin:kick')
  async kick(@MessageBody() body: unknown) {
    const username = (body as { username?: unknown } | null)?.username;
    const user = this.users.findByUsername(username);
    const disconnected = user ? await this.connections.disconnect(user.id, 'Kicked by an admin') : 0;
    return { event: 'admin:kick', data: { username: user?.username ?? null, disconnected } };
  }
}
