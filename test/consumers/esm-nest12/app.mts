// What a Nest 12 user with TypeScript writes (ESM, `strict`, `skipLibCheck: false`): type-checked
// by test/nest11/run.mjs against the packed package, never run (app.mjs is the app that runs).
import { Controller, Get, Headers, Injectable, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import {
  RedisTicketStore,
  Roles,
  WsAuthModule,
  WsConnections,
  WsRevocations,
  WsRolesGuard,
  WsTicketService,
  WsUser,
  getWsIdentity,
  type IssuedTicket,
  type RedisTicketClient,
  type WsAuthOptions,
  type WsIdentity,
} from 'nestjs-ws-auth';
import { WsAuthClient } from 'nestjs-ws-auth/client';

interface User {
  id: string;
  name: string;
}

@Injectable()
class AuthSettings {
  readonly secret = 'a-secret-of-at-least-32-characters!!';
}

@Module({ providers: [AuthSettings], exports: [AuthSettings] })
class SettingsModule {}

@WebSocketGateway({ path: '/chat' })
class ChatGateway {
  constructor(
    private readonly connections: WsConnections,
    private readonly revocations: WsRevocations,
  ) {}

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User, @WsUser('name') name: string, @ConnectedSocket() client: object) {
    const identity: WsIdentity<User> | undefined = getWsIdentity<User>(client);
    return { event: 'whoami', data: { user, name, roles: identity?.roles ?? [] } };
  }

  @Roles('admin')
  @UseGuards(WsRolesGuard)
  @SubscribeMessage('kick')
  async kick(@MessageBody() subject: string): Promise<number> {
    const closed = await this.revocations.revoke({ subject }, 'kicked');
    return closed + this.connections.count(subject);
  }
}

@Controller('ws-ticket')
class TicketController {
  constructor(private readonly tickets: WsTicketService) {}

  @Get()
  issue(@Headers('authorization') authorization: string): Promise<IssuedTicket> {
    return this.tickets.issue({ user: { id: '1', name: authorization }, roles: [], claims: {}, source: 'custom' });
  }
}

const redis: RedisTicketClient = { set: async () => 'OK', getDel: async () => null };

@Module({
  imports: [
    WsAuthModule.forRootAsync<User>({
      imports: [SettingsModule],
      inject: [AuthSettings],
      useFactory: (settings: AuthSettings): WsAuthOptions<User> => ({
        jwt: { secret: settings.secret },
        validate: (claims) => (claims.sub ? { id: claims.sub, name: String(claims['name']) } : false),
        tickets: { store: new RedisTicketStore({ client: redis }) },
      }),
    }),
  ],
  controllers: [TicketController],
  providers: [ChatGateway],
})
export class AppModule {}

export const staticAuth: DynamicModule = WsAuthModule.forRoot({
  jwt: { secret: 'a-secret-of-at-least-32-characters!!' },
  tickets: { store: new RedisTicketStore({ url: 'redis://localhost:6379' }) },
});

export const client = new WsAuthClient<{ whoami: { user: User } }>({
  url: 'ws://localhost:3000/chat',
  credential: { mode: 'ticket', fetchTicket: async () => 'ticket' },
});
