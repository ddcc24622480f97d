import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Header,
  Headers,
  HttpCode,
  Inject,
  Post,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { SkipThrottle } from '@nestjs/throttler';
import { TOPIC_TOKEN_TYPE, WsRevocations } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AuthThrottlerGuard, LOGIN_THROTTLER } from './auth-throttling.js';
import { bearerOf } from './bearer.js';
import { SAMPLE_DEFAULTS, type SampleConfig } from './sample.config.js';
import { DOC_TOPIC, docTokenAllowed } from './sample-topics.js';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import { UsersService, type SampleUser } from './users.service.js';

interface AccessClaims {
  sub?: unknown;
  jti?: unknown;
  iat?: unknown;
  exp?: unknown;
}

/**
 * Topic tokens: what opens a `doc:<id>` topic (`join` with `{ topic, token }`). Signed with the
 * sample's key, typed `topic+jwt` so that neither kind of token can stand in for the other.
 * With JWKS_URL, sockets belong to the identity provider's users: it issues their topic
 * tokens, and the ones from this route open nothing.
 */
@Controller('auth')
export class TopicTokenController {
  private readonly ttlSeconds: number;

  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    private readonly revocations: WsRevocations,
    @Inject(SAMPLE_CONFIG) config: SampleConfig,
  ) {
    this.ttlSeconds = config.topicTokenTtlSeconds ?? SAMPLE_DEFAULTS.topicTokenTtlSeconds;
  }

  /**
   * `Authorization: Bearer <access token>` and `{"topic":"doc:<id>"}`: a token for exactly that
   * topic, for the user's current roles (401 without a valid, unrevoked access token, 400 for
   * another body, 403 for a document the user may not have).
   */
  @Post('topic-token')
  @HttpCode(200)
  // RFC 6749 section 5.1: a response carrying a token is never cached.
  @Header('Cache-Control', 'no-store')
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ [LOGIN_THROTTLER]: true })
  async topicToken(@Headers('authorization') authorization: string | undefined, @Body() body: unknown) {
    const user = await this.userOf(bearerOf(authorization));
    const topic = (body as { topic?: unknown } | null | undefined)?.topic;
    if (typeof topic !== 'string' || !DOC_TOPIC.test(topic)) throw new BadRequestException();
    if (!docTokenAllowed(user, topic)) throw new ForbiddenException();
    const iat = Math.floor(Date.now() / 1000);
    const token = await this.jwt.signAsync(
      { sub: user.id, topic, jti: randomUUID(), iat, exp: iat + this.ttlSeconds },
      { header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } },
    );
    return { token, expires_in: this.ttlSeconds };
  }

  /** The access token's user as the sockets would see it: genuine, unexpired, unrevoked, existing, current roles. */
  private async userOf(accessToken: string | undefined): Promise<SampleUser> {
    if (!accessToken) throw new UnauthorizedException();
    const verified = await this.jwt.verifyAsync<{ header: { typ?: unknown }; payload: AccessClaims }>(accessToken, { complete: true }).catch(() => undefined);
    // Only the sample's own access tokens (typ JWT): a topic token, signed with the same key, is not a login.
    if (!verified || String(verified.header.typ).toUpperCase() !== 'JWT') throw new UnauthorizedException();
    const claims = verified.payload;
    if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string' || typeof claims.iat !== 'number') throw new UnauthorizedException();
    const user = await this.users.current(claims.sub);
    if (!user) throw new UnauthorizedException();
    // A logged-out or kicked user's tokens get nothing more, as at the upgrade.
    if (this.revocations.isRevoked({ user, subject: user.id, roles: user.roles, claims: { ...claims }, source: 'header' })) {
      throw new UnauthorizedException();
    }
    return user;
  }
}
