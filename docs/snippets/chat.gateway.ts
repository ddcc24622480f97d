// README: the opening example.
import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Roles, WsRolesGuard, WsUser } from 'nestjs-ws-auth';

export interface User {
  id: string;
  username: string;
}

// #region chat-gateway
@WebSocketGateway({ path: '/chat' })
@UseGuards(WsRolesGuard)
export class ChatGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User) {
    return { event: 'whoami', data: { username: user.username } };
  }

  @Roles('admin')
  @SubscribeMessage('admin:stats')
  stats() { /* only admins get here */ }
}
// #endregion
