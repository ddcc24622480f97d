import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { WsAuthModuleAsyncOptions, WsAuthOptions } from './ws-auth-options.interface.js';
import { WS_AUTH_OPTIONS } from './ws-auth.constants.js';
import { WsAuthConfig } from './ws-auth.config.js';
import { WsAdapterCheck } from './adapter/adapter-check.js';
import { WsAuthGuard } from './guards/ws-auth.guard.js';
import { WsRolesGuard } from './guards/ws-roles.guard.js';

const SHARED_PROVIDERS: Provider[] = [WsAuthConfig, WsAdapterCheck, WsAuthGuard, WsRolesGuard];
const EXPORTS = [WS_AUTH_OPTIONS, WsAuthConfig, WsAuthGuard, WsRolesGuard];

@Module({})
export class WsAuthModule {
  static forRoot<User>(options: WsAuthOptions<User> & { isGlobal?: boolean }): DynamicModule {
    const { isGlobal, ...authOptions } = options;
    return {
      module: WsAuthModule,
      global: isGlobal ?? false,
      imports: [DiscoveryModule],
      providers: [{ provide: WS_AUTH_OPTIONS, useValue: authOptions }, ...SHARED_PROVIDERS],
      exports: EXPORTS,
    };
  }

  static forRootAsync<User>(options: WsAuthModuleAsyncOptions<User>): DynamicModule {
    return {
      module: WsAuthModule,
      global: options.isGlobal ?? false,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [
        { provide: WS_AUTH_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        ...SHARED_PROVIDERS,
      ],
      exports: EXPORTS,
    };
  }
}
