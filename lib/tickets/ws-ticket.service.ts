import type { IncomingMessage } from 'node:http';
import { HttpException, Injectable } from '@nestjs/common';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { toRefusal } from '../refusals/to-refusal.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import type { IssuedTicket } from './ticket-book.js';
import { authMetrics } from '../telemetry/auth-metrics.js';

/**
 * Trades an access token for a short-lived, single-use ticket that a browser can put in a
 * WebSocket URL (`?ticket=`), where a long-lived token must never go. Used from HTTP
 * controllers, so failures are HttpExceptions carrying the refusal's status and fixed body.
 */
@Injectable()
export class WsTicketService {
  constructor(private readonly config: WsAuthConfig) {}

  /**
   * Verifies `accessToken` as the handshake would (JWT, revocation, then `validate()`), then
   * issues. The gateway the ticket opens derives the user from the token's claims with its
   * own `validate` and `rolesClaim`, exactly as it would from the token.
   */
  async issueForToken(accessToken: string, request: IncomingMessage): Promise<IssuedTicket> {
    return this.answer(async () => this.config.tickets.issueForClaims(await this.config.identityFromToken(accessToken, request)));
  }

  /**
   * Issues for an identity the app has already established (a server session, say): the
   * ticket carries it as given. A gateway with a `validate` still runs it on the identity's
   * claims; a refresh over such a socket is refused, since no token stands behind it.
   */
  issue(identity: WsIdentity): Promise<IssuedTicket> {
    return this.answer(async () => this.config.tickets.issueForIdentity(identity));
  }

  private async answer(work: () => Promise<IssuedTicket>): Promise<IssuedTicket> {
    try {
      const issued = await work();
      authMetrics.ticket('issue');
      return issued;
    } catch (error) {
      const refusal: WsRefusal = toRefusal(error);
      authMetrics.ticket('issue', refusal.reason);
      throw new HttpException(JSON.parse(refusal.toBody()), refusal.status);
    }
  }
}
