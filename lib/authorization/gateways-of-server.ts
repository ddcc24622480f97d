import type { Type } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';

// The keys @WebSocketGateway() writes, as lib/adapter/adapter-check.ts reads them: stable
// since Nest 5, while the deep import of @nestjs/websockets/constants is not a public path.
const GATEWAY_METADATA = 'websockets:is_gateway';
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const PORT_METADATA = 'port';

type NestModule = ModulesContainer extends Map<string, infer M> ? M : never;

/** A gateway class as one module provides it: its guards are that module's injectables. */
export interface GatewayHost {
  readonly gateway: Type<unknown>;
  readonly module: NestModule;
}

/**
 * Every gateway class Nest serves with the server it creates for (port, path). Nest's
 * SocketServerProvider (Nest 11 and 12 alike) keeps one server per `{ port, path }` of the
 * gateway's metadata, the port defaulting to 0 and the path compared as written, and hands
 * every later gateway with the same pair the first one's server. A class provided by two
 * modules is two gateways.
 */
export function gatewaysOfServer(modules: ModulesContainer, port: number, path: unknown): GatewayHost[] {
  const hosts: GatewayHost[] = [];
  for (const module of modules.values()) {
    for (const wrapper of module.providers.values()) {
      // As Nest's SocketModule: only class providers become gateways (a factory's metatype is the factory).
      const gateway = wrapper.metatype as Type<unknown> | null | undefined;
      if (!gateway || wrapper.isNotMetatype || !Reflect.getMetadata(GATEWAY_METADATA, gateway)) continue;
      const options = (Reflect.getMetadata(GATEWAY_OPTIONS, gateway) ?? {}) as { path?: unknown };
      const gatewayPort: unknown = Reflect.getMetadata(PORT_METADATA, gateway) || 0;
      if (gatewayPort === port && options.path === path && !hosts.some((host) => host.gateway === gateway && host.module === module)) {
        hosts.push({ gateway, module });
      }
    }
  }
  return hosts;
}
