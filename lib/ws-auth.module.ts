import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { WsAuthModuleAsyncOptions, WsAuthOptions } from './ws-auth-options.interface.js';
import { WS_AUTH_OPTIONS } from './ws-auth.constants.js';
import { WsAuthConfig } from './ws-auth.config.js';
import { WsAdapterCheck } from './adapter/adapter-check.js';
import { WsAuthGuard } from './guards/ws-auth.guard.js';
import { WsRolesGuard } from './guards/ws-roles.guard.js';
import { MemoryTicketStore } from './tickets/memory-ticket-store.js';
import { WsTicketService } from './tickets/ws-ticket.service.js';
import { WsTicketStore } from './tickets/ws-ticket-store.js';
import { LocalConnectionBus, WsConnectionBus } from './connections/ws-connection-bus.js';
import { WsConnections } from './connections/ws-connections.service.js';
import { LocalRevocationStore, WsRevocationStore } from './revocations/ws-revocation-store.js';
import { WsRevocations } from './revocations/ws-revocations.service.js';

const ticketStoreProvider: Provider = {
  provide: WsTicketStore,
  useFactory: (options: WsAuthOptions) => options.tickets?.store ?? new MemoryTicketStore(options.tickets?.maxEntries),
  inject: [WS_AUTH_OPTIONS],
};

const connectionBusProvider: Provider = {
  provide: WsConnectionBus,
  useFactory: (options: WsAuthOptions) => options.connectionBus ?? new LocalConnectionBus(),
  inject: [WS_AUTH_OPTIONS],
};

const revocationStoreProvider: Provider = {
  provide: WsRevocationStore,
  useFactory: (options: WsAuthOptions) => options.revocation?.store ?? new LocalRevocationStore(),
  inject: [WS_AUTH_OPTIONS],
};

const SHARED_PROVIDERS: Provider[] = [
  ticketStoreProvider,
  connectionBusProvider,
  revocationStoreProvider,
  WsConnections,
  WsRevocations,
  WsAuthConfig,
  WsTicketService,
  WsAdapterCheck,
  WsAuthGuard,
  WsRolesGuard,
];
const EXPORTS = [WS_AUTH_OPTIONS, WsAuthConfig, WsTicketService, WsTicketStore, WsConnections, WsRevocations, WsRevocationStore, WsAuthGuard, WsRolesGuard];

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
