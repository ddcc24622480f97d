// README: Registering the module.
import { Injectable, Module } from '@nestjs/common';
import { WsAuthModule, type WsAuthOptions, type WsAuthOptionsFactory } from 'nestjs-ws-auth';
import { ChatGateway, type User } from './chat.gateway.js';

// The app's own: a users module, and @nestjs/config (not a dependency here).
declare class UsersService {
  findById(id: string): Promise<User | undefined>;
}
declare class UsersModule {}
declare class ConfigService {
  getOrThrow<T = string>(key: string): T;
}
declare class ConfigModule {}

// #region for-root
@Module({
  imports: [WsAuthModule.forRoot({ jwt: { secret: process.env.JWT_SECRET! }, isGlobal: true })],
  providers: [ChatGateway],
})
export class AppModule {}
// #endregion

export const fromFactory =
  // #region for-root-async
  WsAuthModule.forRootAsync({
    imports: [ConfigModule, UsersModule],
    inject: [ConfigService, UsersService],
    useFactory: (config: ConfigService, users: UsersService) => ({
      jwt: { secret: config.getOrThrow<string>('JWT_SECRET') },
      validate: (claims) => claims.sub && users.findById(claims.sub),
    }),
  });
// #endregion

// #region options-class
@Injectable()
export class WsAuthSettings implements WsAuthOptionsFactory<User> {
  constructor(
    private readonly config: ConfigService,
    private readonly users: UsersService,
  ) {}

  createWsAuthOptions(): WsAuthOptions<User> {
    return {
      jwt: { secret: this.config.getOrThrow<string>('JWT_SECRET') },
      validate: (claims) => claims.sub && this.users.findById(claims.sub),
    };
  }
}

// in the root module's imports:
WsAuthModule.forRootAsync({ imports: [ConfigModule, UsersModule], useClass: WsAuthSettings, isGlobal: true });
// #endregion
