import { UseGuards } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer as WsServer } from 'ws';
import { Roles, WsRolesGuard, WsUser } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import type { SampleUser } from './users.service.js';

@WebSocketGateway({ path: '/chat' })
@UseGuards(WsRolesGuard)
export class ChatGateway {
  @WebSocketServer()
  private readonly server!: WsServer;

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: SampleUser) {
    return { event: 'whoami', data: { username: user.username, roles: user.roles } };
  }

  // The sender comes from the connection's identity, never from the payload.
  @SubscribeMessage('chat')
  chat(@WsUser('username') from: string, @MessageBody() body: unknown) {
    const text = typeof (body as { text?: unknown })?.text === 'string' ? (body as { text: string }).text : '';
    const frame = JSON.stringify({ event: 'chat', data: { from, text } });
    for (const client of this.server.clients) if (client.readyState === 1) client.send(frame);
  }

  @Roles('admin')
  @SubscribeMessage('admin:stats')
  stats() {
    const open = [...this.server.clients].filter((client: WebSocket) => client.readyState === 1).length;
    return { event: 'admin:stats', data: { connections: open } };
  }
}
