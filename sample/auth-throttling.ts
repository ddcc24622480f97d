import { Injectable, type ExecutionContext } from '@nestjs/common';
import { normalizeIp, ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { SAMPLE_DEFAULTS, type SampleConfig } from './sample.config.js';

/** The named throttlers of the auth routes; each route skips the other's. */
export const LOGIN_THROTTLER = 'login';
export const TICKET_THROTTLER = 'ws-ticket';

/**
 * Login attempts count per (address, username): a password guesser is slowed down on the one
 * account it targets, while other users behind the same address (an office NAT, a test
 * script logging in as several users) keep their own budget. Tickets count per address: a
 * flood of tickets costs a verification each, whoever's token it carries.
 * Keys are hashed by the throttler; neither a username nor a token is stored or logged.
 */
export function authThrottling(config: SampleConfig): ThrottlerModuleOptions {
  const login = config.loginThrottle ?? SAMPLE_DEFAULTS.loginThrottle;
  const ticket = config.ticketThrottle ?? SAMPLE_DEFAULTS.ticketThrottle;
  return {
    throttlers: [
      {
        name: LOGIN_THROTTLER,
        limit: login.limit,
        ttl: login.ttlSeconds * 1000,
        getTracker: (req) => `${addressOf(req as Request)}\n${usernameOf(req as Request)}`,
      },
      { name: TICKET_THROTTLER, limit: ticket.limit, ttl: ticket.ttlSeconds * 1000, getTracker: (req) => addressOf(req as Request) },
    ],
  };
}

function addressOf(req: Request): string {
  // The socket's address: without a trusted proxy in front, X-Forwarded-For is the client's to forge.
  return normalizeIp(req.socket.remoteAddress ?? '');
}

function usernameOf(req: Request): string {
  const username = (req.body as { username?: unknown } | undefined)?.username;
  return typeof username === 'string' ? username.slice(0, 256) : '';
}

/**
 * The throttler's guard, plus the standard `Retry-After` (RFC 9110 section 10.2.3): a named
 * throttler only sets `Retry-After-<name>`, which no client library reads.
 */
@Injectable()
export class AuthThrottlerGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    context
      .switchToHttp()
      .getResponse<Response>()
      .setHeader('Retry-After', String(Math.max(1, detail.timeToBlockExpire)));
    return super.throwThrottlingException(context, detail);
  }
}
