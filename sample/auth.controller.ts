import { randomUUID } from 'node:crypto';
import { Body, Controller, Headers, HttpCode, Inject, Post, Req, Res, UnauthorizedException, UseGuards } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { SkipThrottle } from '@nestjs/throttler';
import type { CookieOptions, Request, Response } from 'express';
import { WsRevocations, WsTicketService, type WsDisconnectReason } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { bearerOf } from './bearer.js';
import { AuthThrottlerGuard, LOGIN_THROTTLER, TICKET_THROTTLER } from './auth-throttling.js';
import type { IssuedAccessToken } from './refresh-token-store.js';
import { RefreshSessions } from './refresh-sessions.js';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import type { SampleConfig } from './sample.config.js';
import { UsersService, type SampleUser } from './users.service.js';

const ACCESS_COOKIE = 'access_token';
const REFRESH_COOKIE = 'refresh_token';
// The refresh token travels to the one route that spends it, never with other requests.
const REFRESH_PATH = '/auth/refresh';

/** The claims the sample signs besides `sub`, `username` and `roles`. */
interface PlannedAccess {
  jti: string;
  iat: number;
  exp: number;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    private readonly tickets: WsTicketService,
    private readonly sessions: RefreshSessions,
    private readonly revocations: WsRevocations,
    @Inject(SAMPLE_CONFIG) private readonly config: SampleConfig,
  ) {}

  /** Starts a session: an access token (body and cookie) and the session's first refresh token. */
  @Post('login')
  @HttpCode(200)
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ [TICKET_THROTTLER]: true })
  async login(@Body() body: { username?: unknown; password?: unknown } | undefined, @Res({ passthrough: true }) res: Response) {
    const user = this.users.checkPassword(body?.username, body?.password);
    if (!user) throw new UnauthorizedException();
    const session = this.sessions.open(user.id);
    const access = this.planAccess();
    const refreshToken = await this.sessions.begin(session, issued(access));
    // The access cookie first: clients that read one Set-Cookie header read that one.
    const accessToken = await this.issueAccessToken(user, session.id, access, res);
    this.setRefreshCookie(res, refreshToken, session.expiresAt);
    return { access_token: accessToken };
  }

  /**
   * Spends the refresh cookie for a new access token and the refresh token's successor, so a
   * page can refresh its socket without keeping a password. A spent refresh token presented
   * again ends its whole session: whoever holds the live one must log in again too.
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Req() request: Request, @Res({ passthrough: true }) res: Response) {
    const presented = readCookie(request.headers.cookie, REFRESH_COOKIE);
    if (!presented) throw new UnauthorizedException();
    const access = this.planAccess();
    const outcome = await this.sessions.rotate(presented, issued(access));
    // Two parties held this session: the access tokens it issued are revoked too (their sockets close).
    if (outcome.kind === 'reused') await this.revokeIssued(outcome.family.accessTokens, 'revoked');
    const user = outcome.kind === 'rotated' ? this.users.findById(outcome.family.subject) : undefined;
    if (outcome.kind !== 'rotated' || !outcome.token || !user) {
      res.clearCookie(REFRESH_COOKIE, this.refreshCookieOptions());
      throw new UnauthorizedException();
    }
    const accessToken = await this.issueAccessToken(user, outcome.family.id, access, res);
    this.setRefreshCookie(res, outcome.token, outcome.family.expiresAt);
    return { access_token: accessToken };
  }

  /**
   * Ends the session of the access token (`Authorization: Bearer` or the cookie): that token
   * and the others its session issued are revoked (their sockets close with 4403 'Logged Out'),
   * its refresh tokens stop working, and the cookies are cleared. Other logins of the same user
   * are untouched. An expired but genuine token still logs out: its session may live on.
   */
  @Post('logout')
  @HttpCode(204)
  async logout(@Headers('authorization') authorization: string | undefined, @Req() request: Request, @Res({ passthrough: true }) res: Response) {
    const token = bearerOf(authorization) ?? readCookie(request.headers.cookie, ACCESS_COOKIE);
    const claims = token
      ? await this.jwt.verifyAsync<{ sub?: unknown; jti?: unknown; exp?: unknown; sid?: unknown }>(token, { ignoreExpiration: true }).catch(() => undefined)
      : undefined;
    if (typeof claims?.jti !== 'string' || typeof claims.exp !== 'number') throw new UnauthorizedException();
    await this.revocations.revoke({ jti: claims.jti, expiresAt: claims.exp * 1000 }, 'logged_out');
    const session = typeof claims.sid === 'string' ? await this.sessions.end(claims.sid) : undefined;
    if (session && session.subject === claims.sub) {
      await this.revokeIssued(
        session.accessTokens.filter((access) => access.jti !== claims.jti),
        'logged_out',
      );
    }
    res.clearCookie(ACCESS_COOKIE, { httpOnly: true, sameSite: 'lax', path: '/', secure: Boolean(this.config.tls) });
    res.clearCookie(REFRESH_COOKIE, this.refreshCookieOptions());
  }

  /** Trades the access token for a single-use ticket a browser can put in the socket URL. */
  @Post('ws-ticket')
  @HttpCode(200)
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ [LOGIN_THROTTLER]: true })
  async wsTicket(@Headers('authorization') authorization: string | undefined, @Req() request: Request) {
    const accessToken = bearerOf(authorization);
    if (!accessToken) throw new UnauthorizedException();
    const { ticket, expiresIn } = await this.tickets.issueForToken(accessToken, request);
    return { ticket, expires_in: expiresIn };
  }

  private async revokeIssued(tokens: IssuedAccessToken[], reason: WsDisconnectReason): Promise<void> {
    const now = Date.now();
    const live = tokens.filter((access) => access.expiresAt > now);
    await Promise.all(live.map((access) => this.revocations.revoke({ jti: access.jti, expiresAt: access.expiresAt }, reason)));
  }

  /** A fresh `jti` and the token's lifetime, known before signing so a session can record them. */
  private planAccess(): PlannedAccess {
    const iat = Math.floor(Date.now() / 1000);
    return { jti: randomUUID(), iat, exp: iat + this.config.accessTokenTtlSeconds };
  }

  private async issueAccessToken(user: SampleUser, sessionId: string, access: PlannedAccess, res: Response): Promise<string> {
    // `sid` names the session, so logout can end it; `jti` lets one token be revoked alone.
    const accessToken = await this.jwt.signAsync({ sub: user.id, username: user.username, roles: user.roles, sid: sessionId, ...access });
    res.cookie(ACCESS_COOKIE, accessToken, {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      secure: Boolean(this.config.tls),
      maxAge: this.config.accessTokenTtlSeconds * 1000,
    });
    return accessToken;
  }

  private setRefreshCookie(res: Response, token: string, expiresAt: number): void {
    res.cookie(REFRESH_COOKIE, token, { ...this.refreshCookieOptions(), maxAge: Math.max(0, expiresAt - Date.now()) });
  }

  private refreshCookieOptions(): CookieOptions {
    // Strict: a cross-site form or fetch never spends (and so never rotates away) the token.
    return { httpOnly: true, sameSite: 'strict', path: REFRESH_PATH, secure: Boolean(this.config.tls) };
  }
}

function issued(access: PlannedAccess): IssuedAccessToken {
  return { jti: access.jti, expiresAt: access.exp * 1000 };
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
