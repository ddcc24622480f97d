// README: Quick start.
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAuthAdapter, WsAuthModule } from 'nestjs-ws-auth';
import { ChatGateway, type User } from './chat.gateway.js';

// The app's own: a users module, and @nestjs/config's ConfigService (not a dependency here).
declare class UsersService {
  findById(id: string): Promise<User | undefined>;
}
declare class UsersModule {}
declare class ConfigService {
  getOrThrow<T = string>(key: string): T;
}
declare class ConfigModule {}

// #region quick-start
// app.module.ts
@Module({
  imports: [
    WsAuthModule.forRootAsync({
      imports: [UsersModule, ConfigModule],
      inject: [UsersService, ConfigService],
      useFactory: (users: UsersService, config: ConfigService) => ({
        jwt: { secret: config.getOrThrow('JWT_SECRET'), issuer: 'https://auth.example.com' },
        // Turn verified claims into your user. Return nothing: 401. Throw ForbiddenException: 403.
        validate: (claims) => claims.sub && users.findById(claims.sub),
        allowedOrigins: ['https://app.example.com'],
      }),
    }),
  ],
  providers: [ChatGateway],
})
export class AppModule {}

// main.ts
const app = await NestFactory.create(AppModule);
app.useWebSocketAdapter(new WsAuthAdapter(app)); // before listen()
await app.listen(3000);
// #endregion
