import { Body, Controller, Headers, HttpCode, Inject, Post, Req, Res, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { Request, Response } from 'express';
import { WsTicketService } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { SAMPLE_CONFIG } from './sample.tokens.js';
import type { SampleConfig } from './sample.config.js';
import { UsersService, type SampleUser } from './users.service.js';

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    private readonly tickets: WsTicketService,
    @Inject(SAMPLE_CONFIG) private readonly config: SampleConfig,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { username?: unknown; password?: unknown } | undefined, @Res({ passthrough: true }) res: Response) {
    const user = this.users.checkPassword(body?.username, body?.password);
    if (!user) throw new UnauthorizedException();
    return { access_token: await this.issueAccessToken(user, res) };
  }

  /**
   * A new access token for the still-valid one in the HttpOnly cookie, so a page can refresh
   * its socket without keeping a password. A real app would use a separate refresh token.
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Req() request: Request, @Res({ passthrough: true }) res: Response) {
    const current = readCookie(request.headers.cookie, 'access_token');
    const claims = current ? await this.jwt.verifyAsync<{ sub?: string }>(current).catch(() => undefined) : undefined;
    const user = this.users.findById(claims?.sub);
    if (!user) throw new UnauthorizedException();
    return { access_token: await this.issueAccessToken(user, res) };
  }

  private async issueAccessToken(user: SampleUser, res: Response): Promise<string> {
    const accessToken = await this.jwt.signAsync(
      { sub: user.id, username: user.username, roles: user.roles },
      { expiresIn: this.config.accessTokenTtlSeconds },
    );
    res.cookie('access_token', accessToken, {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      maxAge: this.config.accessTokenTtlSeconds * 1000,
    });
    return accessToken;
  }

  /** Trades the access token for a single-use ticket a browser can put in the socket URL. */
  @Post('ws-ticket')
  @HttpCode(200)
  async wsTicket(@Headers('authorization') authorization: string | undefined, @Req() request: Request) {
    const accessToken = /^bearer[ \t]+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!accessToken) throw new UnauthorizedException();
    const { ticket, expiresIn } = await this.tickets.issueForToken(accessToken, request);
    return { ticket, expires_in: expiresIn };
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
