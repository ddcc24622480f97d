import { Body, Controller, HttpCode, Inject, Post, Res, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { Response } from 'express';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import type { SampleConfig } from './sample.config.js';
import { UsersService } from './users.service.js';

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    @Inject(SAMPLE_CONFIG) private readonly config: SampleConfig,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { username?: unknown; password?: unknown } | undefined, @Res({ passthrough: true }) res: Response) {
    const user = this.users.checkPassword(body?.username, body?.password);
    if (!user) throw new UnauthorizedException();
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
    return { access_token: accessToken };
  }
}
