import { UseGuards } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Roles, WsRolesGuard } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AdminActions } from './admin-actions.js';

/**
 * For admins only: the class-level role refuses anyone else's upgrade with 403, and every
 * message is checked again, so an admin demoted while connected is refused from then on.
 */
@WebSocketGateway({ path: '/admin' })
@Roles('admin')
@UseGuards(WsRolesGuard)
export class AdminGateway {
  constructor(private readonly admin: AdminActions) {}

  @SubscribeMessage('admin:stats')
  stats() {
    return this.admin.stats();
  }

  @SubscribeMessage('admin:set-roles')
  setRoles(@MessageBody() body: unknown) {
    return this.admin.setRoles(body);
  }
}
