import { Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { getWsIdentity, Roles, WsAuthGuard, WsAuthModule, WsRolesGuard, WsUser, type WsAuthGatewayOptions, type WsAuthOptions } from '../../lib/index.js';
import { TEST_SECRET } from './tokens.js';

/** What handleConnection saw, so tests can check the identity was there before any handler. */
export const connectionLog: Array<{ gateway: string; user: unknown; hasRequest: boolean }> = [];

/** Builds a gateway class for one server layout: the app's server (port 0) or a port of its own. */
export function makeGateway(name: string, port: number, options: { path?: string; wsAuth?: WsAuthGatewayOptions } = {}) {
  class Gateway implements OnGatewayConnection {
    handleConnection(client: WebSocket, request: IncomingMessage) {
      connectionLog.push({ gateway: name, user: getWsIdentity(client)?.user, hasRequest: Boolean(request?.headers) });
    }

    @SubscribeMessage('whoami')
    whoami(@WsUser() user: unknown, @WsUser('username') username: unknown, @ConnectedSocket() client: WebSocket) {
      const identity = getWsIdentity(client);
      return { event: 'whoami', data: { gateway: name, user, username, roles: identity?.roles, source: identity?.source } };
    }

    @UseGuards(WsAuthGuard)
    @SubscribeMessage('guarded')
    guarded(@MessageBody() body: unknown) {
      return { event: 'guarded', data: body };
    }

    @UseGuards(WsRolesGuard)
    @Roles('admin')
    @SubscribeMessage('admin')
    admin() {
      return { event: 'admin', data: 'ok' };
    }

    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown) {
      return { event: 'echo', data: body };
    }
  }
  Object.defineProperty(Gateway, 'name', { value: name });
  WebSocketGateway(port, options)(Gateway);
  return Gateway;
}

export const baseAuthOptions: WsAuthOptions = {
  jwt: { secret: TEST_SECRET },
};

/** An app module with WsAuthModule and the given gateways. */
export function appModule(gateways: Array<new (...args: any[]) => unknown>, options: WsAuthOptions = baseAuthOptions): DynamicModule {
  @Module({})
  class TestAppModule {}
  return { module: TestAppModule, imports: [WsAuthModule.forRoot(options)], providers: gateways };
}
