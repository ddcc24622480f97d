import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost } from '@nestjs/core';
import { isInstalled } from './adapter-installation.js';

// The key @WebSocketGateway() writes; @nestjs/websockets keeps its constant off the
// package root, and deep imports break between Nest 11 and 12. Stable since Nest 5.
const GATEWAY_METADATA = 'websockets:is_gateway';

/**
 * Gateways are created before any module hook runs, so by `onModuleInit` every gateway
 * served through WsAuthAdapter has marked its server.
 */
@Injectable()
export class WsAdapterCheck implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const gateways = this.discovery
      .getProviders()
      .filter((wrapper) => wrapper.metatype && Reflect.getMetadata(GATEWAY_METADATA, wrapper.metatype));
    if (gateways.length === 0) return;
    const httpServer = this.adapterHost.httpAdapter?.getHttpServer();
    if (isInstalled(httpServer)) return;
    const names = gateways.map((wrapper) => wrapper.name).join(', ');
    throw new Error(
      `WsAuthModule: gateways (${names}) are not served by WsAuthAdapter, so their sockets would not be ` +
        'authenticated. Call app.useWebSocketAdapter(new WsAuthAdapter(app)) before app.listen() or app.init().',
    );
  }
}
