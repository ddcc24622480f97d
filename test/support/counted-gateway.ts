import { ConnectedSocket, SubscribeMessage, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { getWsIdentity } from '../../lib/index.js';

// Subjects whose socket reached a gateway's handleConnection, by gateway class name (per test process).
const connected = new Map<string, string[]>();

/** Who reached `handleConnection` of the gateway class of that name, in order. */
export const connectedTo = (gateway: string): string[] => connected.get(gateway) ?? [];

/** A gateway that records every connection it is told of, and answers `whoami` with its identity. */
export abstract class CountedGateway implements OnGatewayConnection {
  handleConnection(client: WebSocket) {
    const name = this.constructor.name;
    connected.set(name, [...connectedTo(name), getWsIdentity(client)?.subject ?? '?']);
  }

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: WebSocket) {
    const identity = getWsIdentity(client);
    return { event: 'whoami', data: { gateway: this.constructor.name, subject: identity?.subject, roles: identity?.roles } };
  }
}
