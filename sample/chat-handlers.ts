import { Injectable } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketServer } from '@nestjs/websockets';
import type { WebSocket, WebSocketServer as WsServer } from 'ws';
import { getWsIdentity, Roles, WsAuthException, WsRevocations, WsTopics, WsUser } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AdminActions } from './admin-actions.js';
import { joinPayload, leavePayload, sayPayload } from './chat-payloads.js';
import type { SampleUser } from './users.service.js';
import { UsersService } from './users.service.js';
import { RefreshSessions } from './refresh-sessions.js';

// A recipient with this much still unsent is not keeping up: it is closed rather than given
// more, so one sender's large messages to many sockets never grow the server without bound.
export const SLOW_READER_BUFFERED_BYTES = 1024 * 1024;
// RFC 6455 section 7.4.1: 1008, the endpoint's policy. The close frame waits behind the
// unsent data, so a reader that never drains is destroyed after this.
const SLOW_READER_CLOSE_GRACE_MS = 5000;

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
    private readonly users: UsersService,
    private readonly sessions: RefreshSessions,
    private readonly revocations: WsRevocations,
    private readonly topics: WsTopics,
    private readonly admin: AdminActions,
  ) {}

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: SampleUser) {
    return { event: 'whoami', data: { username: user.username, roles: user.roles } };
  }

  // The sender comes from the connection's identity, never from the payload.
  @SubscribeMessage('chat')
  chat(@WsUser('username') from: string, @MessageBody() body: unknown) {
    const text = typeof (body as { text?: unknown } | null)?.text === 'string' ? (body as { text: string }).text : '';
    // Serialized once: every recipient's queue holds a reference to the same bytes.
    const frame = Buffer.from(JSON.stringify({ event: 'chat', data: { from, text } }));
    // server.clients also lists in-band sockets still waiting to authenticate: skip those.
    for (const client of this.server.clients) {
      if (client.readyState !== 1 || !getWsIdentity(client)) continue;
      if (client.bufferedAmount > SLOW_READER_BUFFERED_BYTES) closeSlowReader(client);
      else client.send(frame, { binary: false });
    }
  }

  /**
   * Joins a topic: `room:general` for anyone, `room:admins` for admins, `doc:<id>` with a topic
   * token from POST /auth/topic-token. `expiresAt` (epoch ms) is the token's; null without one.
   * A refusal is the `forbidden` exception frame and the socket stays open.
   */
  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: unknown) {
    const { topic, token } = joinPayload(body);
    const joined = await this.topics.join(client, topic, { token });
    return { event: 'joined', data: { topic: joined.topic, expiresAt: joined.expiresAt } };
  }

  /** Leaves a topic; answered the same whether or not the socket was in it. */
  @SubscribeMessage('leave')
  leave(@ConnectedSocket() client: WebSocket, @MessageBody() body: unknown) {
    const { topic } = leavePayload(body);
    this.topics.leave(client, topic);
    return { event: 'left', data: { topic } };
  }

  /**
   * Sends `message` to every member of a topic the sender is in, on every instance. The
   * sender's name comes from its identity, never from the payload.
   */
  @SubscribeMessage('say')
  async say(@ConnectedSocket() client: WebSocket, @WsUser('username') from: string, @MessageBody() body: unknown) {
    const { topic, text } = sayPayload(body);
    if (!this.topics.isMember(client, topic)) throw new WsAuthException('forbidden');
    await this.topics.publish(topic, 'message', { topic, from, text });
  }

  /** Open authenticated sockets of this instance, on every gateway. */
  @Roles('admin')
  @SubscribeMessage('admin:stats')
  stats() {
    return this.admin.stats();
  }

  /** `{ username, roles }`: see AdminActions.setRoles. */
  @Roles('admin')
  @SubscribeMessage('admin:set-roles')
  setRoles(@MessageBody() body: unknown) {
    return this.admin.setRoles(body);
  }

  /**
   * Closes every socket of a user, on every instance, with 4403 'Kicked', and locks them out
   * until they log in again: the credentials issued up to now (tokens, tickets) open nothing
   * anywhere, and their sessions' refresh tokens are spent. `disconnected` counts this instance.
   */
  @Roles('admin')
  @SubscribeMessage('admin:kick')
  async kick(@MessageBody() body: unknown) {
    const username = (body as { username?: unknown } | null)?.username;
    const user = this.users.findByUsername(username);
    if (!user) return { event: 'admin:kick', data: { username: null, disconnected: 0 } };
    // Both at once, and both attempted: revoke() closes this instance's sockets even when the
    // shared store is down (then rejects, and the admin gets an exception frame).
    const [revoked, ended] = await Promise.allSettled([this.revocations.revoke({ subject: user.id }, 'kicked'), this.sessions.endAllOf(user.id)]);
    if (revoked.status === 'rejected') throw revoked.reason;
    if (ended.status === 'rejected') throw ended.reason;
    const disconnected = revoked.value;
    return { event: 'admin:kick', data: { username: user.username, disconnected } };
  }
}

function closeSlowReader(client: WebSocket): void {
  client.close(1008, 'Too slow');
  const grace = setTimeout(() => client.terminate(), SLOW_READER_CLOSE_GRACE_MS);
  grace.unref();
  client.once('close', () => clearTimeout(grace));
}
