import { Module, type DynamicModule } from '@nestjs/common';
import type { WsAuthModuleAsyncOptions, WsAuthOptions } from './ws-auth-options.interface.js';
import { ConfigurableWsAuthModule } from './ws-auth.module-definition.js';
import { failStartup } from './startup-checks.js';

/**
 * Register once, in the root module (a second registration fails at startup). `isGlobal`
 * makes WsConnections, WsTopics, WsTicketService, WsRevocations and the guards injectable everywhere.
 */
@Module({})
export class WsAuthModule extends ConfigurableWsAuthModule {
  static override forRoot<User>(options: WsAuthOptions<User> & { isGlobal?: boolean }): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync<User>(options: WsAuthModuleAsyncOptions<User>): DynamicModule {
    // Nest's builder would silently prefer one source, or register `undefined` as a provider.
    const sources = [options.useFactory, options.useClass, options.useExisting].filter(Boolean).length;
    if (sources !== 1) failStartup('forRootAsync takes exactly one of useFactory, useClass or useExisting.');
    return super.forRootAsync(options);
  }
}
