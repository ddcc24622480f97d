import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService } from '@nestjs/core';
import { WsAuthGuard } from '../guards/ws-auth.guard.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import { websocketsMajorVersion } from './nest-websockets-version.js';
import { WsAuthAdapter } from './ws-auth.adapter.js';

// The key @WebSocketGateway() writes; @nestjs/websockets keeps its constant off the
// package root, and deep imports break between Nest 11 and 12. Stable since Nest 5.
const GATEWAY_METADATA = 'websockets:is_gateway';
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const PORT_METADATA = 'port';

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
    const gateways = this.discovery.getProviders().filter((wrapper) => wrapper.metatype && Reflect.getMetadata(GATEWAY_METADATA, wrapper.metatype));
    const adapter = this.appConfig.getIoAdapter() as { dispose?: () => Promise<void> } | undefined;
    // With two registrations the adapter could only pick one set of options at random.
    const configs = new Set(
      this.discovery
        .getProviders()
        .filter((wrapper) => wrapper.instance instanceof WsAuthConfig)
        .map((wrapper) => wrapper.instance),
    );
    if (configs.size > 1) {
      await adapter?.dispose?.();
      throw new Error(
        'WsAuthModule: it is registered more than once (forRoot/forRootAsync). Register it once, in the root module, with isGlobal: true if feature modules need its services.',
      );
    }
    if (gateways.length === 0) return;
    const names = gateways.map((wrapper) => wrapper.name).join(', ');
    const clash = sharedPathWithOtherOptions(gateways.map((wrapper) => wrapper.metatype as object));
    if (clash) {
      await adapter?.dispose?.();
      throw new Error(
        `WsAuthModule: gateways ${clash.names} share the path "${clash.path}" with different wsAuth options. Nest serves one path ` +
          'with one server, so only the first options would apply: give them the same wsAuth, or separate paths.',
      );
    }
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

interface GatewayOptions {
  path?: string;
  wsAuth?: Record<string, unknown>;
}

/**
 * Nest reuses the server of the first gateway on a (port, path) for every later one, so their
 * `wsAuth` would silently be the first's. Same options (the same values) are fine.
 */
function sharedPathWithOtherOptions(gateways: object[]): { path: string; names: string } | undefined {
  const seen = new Map<string, { name: string; wsAuth?: Record<string, unknown> }>();
  for (const gateway of gateways) {
    const options = (Reflect.getMetadata(GATEWAY_OPTIONS, gateway) ?? {}) as GatewayOptions;
    const port = Reflect.getMetadata(PORT_METADATA, gateway) ?? 0;
    const path = normalizePath(options.path);
    const key = `${port} ${path}`;
    const name = (gateway as { name?: string }).name ?? 'anonymous';
    const first = seen.get(key);
    if (!first) seen.set(key, { name, wsAuth: options.wsAuth });
    else if (!sameOptions(first.wsAuth, options.wsAuth)) return { path, names: `${first.name} and ${name}` };
  }
  return undefined;
}

function sameOptions(a: Record<string, unknown> = {}, b: Record<string, unknown> = {}): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const [x, y] = [a[key], b[key]];
    if (Object.is(x, y)) continue;
    // Arrays of plain values (credentials, allowedOrigins) compare by content.
    if (Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((value, i) => Object.is(value, y[i]))) continue;
    return false;
  }
  return true;
}

// As Nest normalises a gateway path: one leading slash, no trailing one.
function normalizePath(path: string | undefined): string {
  return path ? `/${path}`.replace(/\/+$/, '').replace(/\/+/g, '/') || '/' : '/';
}
