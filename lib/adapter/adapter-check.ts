import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService } from '@nestjs/core';
import { WsAuthGuard } from '../guards/ws-auth.guard.js';
import { websocketsMajorVersion } from './nest-websockets-version.js';
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
    const names = gateways.map((wrapper) => wrapper.name).join(', ');
    const adapter = this.appConfig.getIoAdapter() as { dispose?: () => Promise<void> } | undefined;
    if (!(adapter instanceof WsAuthAdapter)) {
      await adapter?.dispose?.();
      throw new Error(
        `WsAuthModule: gateways (${names}) are not served by WsAuthAdapter, so their sockets would not be ` +
          'authenticated. Call app.useWebSocketAdapter(new WsAuthAdapter(app)) before app.listen() or app.init().',
      );
    }
    if (websocketsMajorVersion() === 11 && this.hasGlobalWsGuard()) {
      await adapter.dispose();
      throw new Error(
        `WsAuthModule: on Nest 11 global guards (APP_GUARD, useGlobalGuards) never run for gateways, so a global ` +
          `WsAuthGuard or WsRolesGuard would not protect ${names}. Add @UseGuards(WsRolesGuard) to each gateway class.`,
      );
    }
  }

  // Nest 11 builds the gateways' guard context without the app config (fixed in Nest 12).
  private hasGlobalWsGuard(): boolean {
    const guards: unknown[] = [
      ...this.appConfig.getGlobalGuards(),
      ...this.appConfig.getGlobalRequestGuards().map((wrapper) => wrapper.instance ?? wrapper.metatype),
    ];
    return guards.some(
      (guard) => guard instanceof WsAuthGuard || (typeof guard === 'function' && guard.prototype instanceof WsAuthGuard) || guard === WsAuthGuard,
    );
  }
}
