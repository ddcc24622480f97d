import { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { WsIdentity } from '../identity/ws-identity.js';
import { errorName } from '../refusals/to-refusal.js';

export type IdentityChangeListener = (client: WebSocket, identity: WsIdentity, previous: WsIdentity) => void;

const logger = new Logger('WsAuth');

/** Who hears that an open connection's identity was replaced in place (a refresh, a re-check). */
export class IdentityChanges {
  private readonly listeners: IdentityChangeListener[] = [];

  add(listener: IdentityChangeListener): void {
    if (typeof listener !== 'function') throw new TypeError('WsConnections: onIdentityChanged() needs a function.');
    this.listeners.push(listener);
  }

  notify(client: WebSocket, identity: WsIdentity, previous: WsIdentity): void {
    for (const listener of this.listeners) {
      try {
        listener(client, identity, previous);
      } catch (error) {
        // One listener's bug must neither stop the others nor undo the replacement. Name only:
        // a message may quote the identity's claims.
        logger.error(`An identity change listener threw ${errorName(error)}`);
      }
    }
  }
}
