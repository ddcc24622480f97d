// README: Authorization past the handshake (gateway, topic, time).
import { Body, Controller, ForbiddenException, Injectable, Post, Req, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import {
  getWsConnectionAttempt,
  RedisTopicBus,
  Roles,
  TOPIC_TOKEN_TYPE,
  UseConnectionGuards,
  WsAuthException,
  WsAuthModule,
  WsConnections,
  WsRolesGuard,
  WsTopics,
  WsUser,
} from 'nestjs-ws-auth';

interface User {
  id: string;
  username: string;
  roles: string[];
}
declare const secret: string;
declare const users: { findById(id: unknown): Promise<User | undefined>; setRoles(id: string, roles: string[]): Promise<void> };
declare const documents: { mayRead(userId: string, documentId: string): Promise<boolean> };

// #region gateway
/** Only admins get a socket here: anyone else is refused with 403 during the upgrade. */
@WebSocketGateway({ path: '/admin' })
@Roles('admin')
@UseGuards(WsRolesGuard)
export class AdminGateway {}

/** Any guard can judge the connection too: it runs at the upgrade and on every message. */
@Injectable()
export class OfficeHoursGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const attempt = getWsConnectionAttempt(context); // defined at the upgrade, undefined per message
    const hour = new Date().getUTCHours();
    return attempt === undefined || (hour >= 8 && hour < 18) || attempt.identity.roles.includes('oncall');
  }
}

@WebSocketGateway({ path: '/ops' })
@UseConnectionGuards(OfficeHoursGuard)
export class OpsGateway {}
// #endregion

// #region topics-module
WsAuthModule.forRoot({
  jwt: { secret },
  validate: (claims) => users.findById(claims.sub),
  // Roles from the user store rather than the token, so a re-check picks up a change.
  rolesOf: (user: User) => user.roles,
  topics: {
    policies: [
      { pattern: 'room:general', authorize: () => true },
      { pattern: 'room:admins', authorize: (identity) => identity.roles.includes('admin') },
      { pattern: 'doc:*' }, // no authorize: a topic token is the only way in
      // A token AND a check that must still hold after a role change:
      { pattern: 'report:*', requireToken: true, authorize: (identity) => identity.roles.includes('auditor') },
    ],
    bus: new RedisTopicBus({ url: process.env.REDIS_URL! }), // publish reaches every instance
  },
});
// #endregion

// #region topics-gateway
@WebSocketGateway({ path: '/chat' })
@UseGuards(WsRolesGuard)
export class ChatGateway {
  constructor(private readonly topics: WsTopics) {}

  // Refused: the exception reply (code "forbidden"); the socket stays open.
  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic: string; token?: string }) {
    return { event: 'joined', data: await this.topics.join(client, body.topic, { token: body.token }) };
  }

  @SubscribeMessage('say')
  async say(@ConnectedSocket() client: WebSocket, @WsUser('username') from: string, @MessageBody() body: { topic: string; text: string }) {
    if (!this.topics.isMember(client, body.topic)) throw new WsAuthException('forbidden');
    await this.topics.publish(body.topic, 'message', { topic: body.topic, from, text: body.text });
  }
}
// #endregion

// #region topic-token
@Controller('auth')
export class TopicTokenController {
  constructor(private readonly jwt: JwtService) {}

  // Behind your HTTP auth guard (request.user); the app decides, the token carries the decision.
  @Post('topic-token')
  async topicToken(@Body() body: { topic: string }, @Req() { user }: { user: User }) {
    // The exact shape first: a `topic` ending in `*` would grant every document.
    const documentId = /^doc:([\w-]{1,64})$/.exec(body.topic)?.[1];
    if (!documentId || !(await documents.mayRead(user.id, documentId))) throw new ForbiddenException();
    const token = this.jwt.sign({ sub: user.id, topic: body.topic }, { header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE }, expiresIn: 300 });
    return { token, expires_in: 300 };
  }
}
// #endregion

@Injectable()
export class RolesService {
  constructor(private readonly connections: WsConnections) {}

  // #region revalidate
  async setRoles(userId: string, roles: string[]) {
    await users.setRoles(userId, roles);
    // validate() runs again for the user's open connections on every instance: new roles in
    // place, topics no longer allowed left ("unsubscribed", reason "forbidden"), a deleted
    // user's connections closed (4401). No reconnect.
    await this.connections.revalidate(userId);
  }
  // #endregion
}

// #region revalidate-interval
WsAuthModule.forRoot({
  jwt: { secret },
  validate: (claims) => users.findById(claims.sub),
  rolesOf: (user: User) => user.roles,
  revalidateIntervalMs: 60_000, // every connection re-checked about once a minute, spread over it
});
// #endregion
