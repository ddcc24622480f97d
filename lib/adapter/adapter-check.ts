import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService } from '@nestjs/core';
import { WsAuthAdapter } from './ws-auth.adapter.js';

// The key @WebSocketGateway() writes; @nestjs/websockets keeps its constant off the
// package root, and deep imports break between Nest 11 and 12. Stable since Nest 5.
const GATEWAY_METADATA = 'websockets:is_gateway';

/**
 * Fails startup when gateways are served by another adapter, so an app is never
 * unauthenticated by accident. Gateways are created before any module hook runs, and a
 * gateway on a port of its own is listening by then: the foreign adapter is disposed
 * before the error, so an app that catches its bootstrap error serves no open port.
 */
@Injectable()
export class WsAdapterCheck implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    // Nest registers ApplicationConfig as a provider of every module.
    private readonly appConfig: ApplicationConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const gateways = this.discovery
      .getProviders()
      .filter((wrapper) => wrapper.metatype && Reflect.getMetadata(GATEWAY_METADATA, wrapper.metatype));
    if (gateways.length === 0) return;
    const adapter = this.appConfig.getIoAdapter() as { dispose?: () => Promise<void> } | undefined;
    if (adapter instanceof WsAuthAdapter) return;
    await adapter?.dispose?.();
    const names = gateways.map((wrapper) => wrapper.name).join(', ');
    throw new Error(
      `WsAuthModule: gateways (${names}) are not served by WsAuthAdapter, so their sockets would not be ` +
        'authenticated. Call app.useWebSocketAdapter(new WsAuthAdapter(app)) before app.listen() or app.init().',
    );
  }
}
