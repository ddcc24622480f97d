import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { WsAuthOptions } from './ws-auth-options.interface.js';
import { WS_AUTH_OPTIONS } from './ws-auth.constants.js';
import { WsAuthConfig } from './ws-auth.config.js';
import { WsAdapterCheck } from './adapter/adapter-check.js';
import { WsAuthDefaultAdapter } from './adapter/default-adapter.js';
import { WsAuthGuard } from './guards/ws-auth.guard.js';
import { WsRolesGuard } from './guards/ws-roles.guard.js';
import { MemoryTicketStore } from './tickets/memory-ticket-store.js';
import { WsTicketService } from './tickets/ws-ticket.service.js';
import { WsTicketStore } from './tickets/ws-ticket-store.js';
import { LocalConnectionBus, WsConnectionBus } from './connections/ws-connection-bus.js';
import { WsConnections } from './connections/ws-connections.service.js';
import { LocalRevocationStore, WsRevocationStore } from './revocations/ws-revocation-store.js';
import { WsRevocations } from './revocations/ws-revocations.service.js';
import { WsAuthEvents } from './telemetry/ws-auth-events.service.js';
import { LocalTopicBus, WsTopicBus } from './topics/ws-topic-bus.js';
import { WsTopics } from './topics/ws-topics.service.js';

/**
 * What `forRoot` / `forRootAsync` take besides the options: they shape the module and are
 * never part of the `WS_AUTH_OPTIONS` value.
 */
export interface WsAuthModuleExtras {
  isGlobal?: boolean;
  extraProviders?: Provider[];
}

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

const topicBusProvider: Provider = {
  provide: WsTopicBus,
  useFactory: (options: WsAuthOptions) => options.topics?.bus ?? new LocalTopicBus(),
  inject: [WS_AUTH_OPTIONS],
};

const SHARED_PROVIDERS: Provider[] = [
  WsAuthEvents,
  ticketStoreProvider,
  connectionBusProvider,
  revocationStoreProvider,
  topicBusProvider,
  WsConnections,
  WsTopics,
  WsRevocations,
  WsAuthConfig,
  WsTicketService,
  WsAuthDefaultAdapter,
  WsAdapterCheck,
  WsAuthGuard,
  WsRolesGuard,
];
const EXPORTS = [
  WS_AUTH_OPTIONS,
  WsAuthEvents,
  WsAuthConfig,
  WsTicketService,
  WsTicketStore,
  WsConnections,
  WsTopics,
  WsTopicBus,
  WsRevocations,
  WsRevocationStore,
  WsAuthGuard,
  WsRolesGuard,
];

/**
 * Nest's builder writes the options provider of each form (value, useFactory, useClass,
 * useExisting) exactly as @nestjs/jwt and @nestjs/throttler hand-write theirs, under our own
 * token; the transform adds what every registration shares. Identical on Nest 11 and 12.
 */
export const { ConfigurableModuleClass: ConfigurableWsAuthModule } = new ConfigurableModuleBuilder<WsAuthOptions>({
  optionsInjectionToken: WS_AUTH_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createWsAuthOptions')
  .setExtras<WsAuthModuleExtras>({ isGlobal: false, extraProviders: [] }, (definition, { isGlobal, extraProviders }) => ({
    ...definition,
    global: isGlobal ?? false,
    // WsAdapterCheck finds the gateways through DiscoveryService.
    imports: [DiscoveryModule, ...(definition.imports ?? [])],
    providers: [...(definition.providers ?? []), ...SHARED_PROVIDERS, ...(extraProviders ?? [])],
    exports: EXPORTS,
  }))
  .build();
