import { Module, type DynamicModule } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { RedisConnectionBus, RedisTicketStore, WsAuthModule } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AuthController } from './auth.controller.js';
import { DemoController } from './demo/demo.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { LiveGateway } from './live.gateway.js';
import type { SampleConfig } from './sample.config.js';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import { UsersService } from './users.service.js';

@Module({ providers: [UsersService], exports: [UsersService] })
class UsersModule {}

@Module({})
export class AppModule {
  static register(config: SampleConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        UsersModule,
        JwtModule.register({ secret: config.jwtSecret }),
        WsAuthModule.forRootAsync({
          imports: [UsersModule],
          inject: [UsersService],
          useFactory: (users: UsersService) => ({
            jwt: { secret: config.jwtSecret },
            // A correctly signed token for a user that no longer exists is refused (401).
            validate: (claims) => users.findById(claims.sub),
            allowedOrigins: [`http://${config.host}:${config.port}`],
            authTimeoutMs: config.authTimeoutMs,
            expiryWarningMs: config.expiryWarningMs,
            // With Redis, a ticket or a kick issued on one instance reaches all of them.
            tickets: config.redisUrl ? { store: new RedisTicketStore({ url: config.redisUrl }) } : undefined,
            connectionBus: config.redisUrl ? new RedisConnectionBus({ url: config.redisUrl }) : undefined,
          }),
        }),
      ],
      controllers: [AuthController, DemoController],
      providers: [ChatGateway, LiveGateway, { provide: SAMPLE_CONFIG, useValue: config }],
    };
  }
}
