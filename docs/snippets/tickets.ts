// README: Tickets.
import { RedisTicketStore, WsAuthModule } from 'nestjs-ws-auth';

declare const secret: string;

// #region controller
import { Controller, Headers, HttpCode, Post, Req, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express'; // not the global Request of fetch()
import { WsTicketService } from 'nestjs-ws-auth';

@Controller()
export class WsTicketController {
  constructor(private readonly tickets: WsTicketService) {}

  @Post('auth/ws-ticket')
  @HttpCode(200)
  async wsTicket(@Headers('authorization') authorization = '', @Req() request: Request) {
    const token = /^bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (!token) throw new UnauthorizedException();
    // Verifies the token exactly as the handshake would (JWT + validate), then issues.
    const { ticket, expiresIn } = await this.tickets.issueForToken(token, request);
    return { ticket, expires_in: expiresIn };
  }
}
// #endregion

// #region redis-store
WsAuthModule.forRoot({
  jwt: { secret },
  tickets: { store: new RedisTicketStore({ url: process.env.REDIS_URL! }) }, // or { client }
});
// #endregion
