import { Injectable, Logger, type INestApplicationContext } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { WsAuthAdapter } from './ws-auth.adapter.js';

/**
 * An app that forgets `app.useWebSocketAdapter(new WsAuthAdapter(app))` would otherwise get
 * Nest's default, socket.io: a process exit asking to install it, or, where it is installed,
 * unauthenticated gateways (refused at startup by WsAdapterCheck). Providers are built before
 * the app's own code can set an adapter, so this one sets WsAuthAdapter as the default; an
 * adapter the app sets afterwards replaces it, and is checked like any other.
 */
@Injectable()
export class WsAuthDefaultAdapter {
  constructor(appConfig: ApplicationConfig, moduleRef: ModuleRef, httpHost: HttpAdapterHost) {
    if (appConfig.getIoAdapter()) return;
    appConfig.setIoAdapter(new DefaultWsAuthAdapter(moduleRef as unknown as INestApplicationContext, httpHost));
  }
}

class DefaultWsAuthAdapter extends WsAuthAdapter {
  private serverLookedUp = false;

  constructor(
    context: INestApplicationContext,
    private readonly httpHost: HttpAdapterHost,
  ) {
    super(context);
  }

  // Providers are built before the app's HTTP server exists: it is looked up when the first
  // gateway is created. A standalone context has none, and serves gateways on their own ports.
  override create(port: number, options?: Record<string, any>): any {
    if (!this.serverLookedUp) {
      this.serverLookedUp = true;
      (this as unknown as { httpServer?: unknown }).httpServer = this.httpHost.httpAdapter?.getHttpServer?.();
      new Logger('WsAuth').log('No WebSocket adapter was set: gateways are served by WsAuthAdapter.');
    }
    return super.create(port, options);
  }
}
