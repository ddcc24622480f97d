import { Injectable } from '@nestjs/common';
import { WsConnections } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { setRolesPayload } from './chat-payloads.js';
import { UsersService } from './users.service.js';

/** What the admin events do, the same on `/chat`, `/live` and `/admin`. */
@Injectable()
export class AdminActions {
  constructor(
    private readonly connections: WsConnections,
    private readonly users: UsersService,
  ) {}

  /** Open authenticated sockets of this instance, on every gateway. */
  stats() {
    return { event: 'admin:stats', data: { connections: this.connections.count() } };
  }

  /**
   * Gives a user new roles and re-checks that user's open connections on every instance at
   * once: validate() runs again, the new roles apply in place, and topics the user may no
   * longer be in are left (`unsubscribed`, reason `forbidden`). Nobody reconnects.
   * The change is written by the instance that got the event, into the store all instances
   * read (Redis with REDIS_URL; this process alone without it).
   */
  async setRoles(body: unknown) {
    const { username, roles } = setRolesPayload(body);
    const known = this.users.findByUsername(username);
    const user = known && (await this.users.setRoles(known.id, roles));
    if (!user) return { event: 'admin:set-roles', data: { username: null, roles: [] } };
    await this.connections.revalidate(user.id);
    return { event: 'admin:set-roles', data: { username: user.username, roles: user.roles } };
  }
}
