import { JwtService } from '@nestjs/jwt';
import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { createJwtKey } from './jwt-key.js';

const DEFAULT_MAX_TOKEN_LENGTH = 8192;
// Three base64url segments; anything else is refused before jsonwebtoken parses it.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Verifies a compact JWT with pinned options; every failure is the same refusal. */
export class JwtVerifier {
  private readonly jwt: JwtService;
  private readonly maxTokenLength: number;
  private readonly requireExpiration: boolean;

  constructor(options: WsAuthJwtOptions) {
    const { key, algorithms } = createJwtKey(options);
    this.maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
    this.requireExpiration = options.requireExpiration ?? true;
    this.jwt = new JwtService({
      secret: key,
      verifyOptions: {
        algorithms,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 0,
      },
    });
  }

  async verify(token: string): Promise<WsJwtClaims> {
    if (token.length > this.maxTokenLength || !COMPACT_JWS.test(token)) {
      throw new WsRefusal('invalid_credential');
    }
    let claims: unknown;
    try {
      // Synchronous: with a KeyObject there is no I/O, and the callback form only adds a
      // promise and a closure per token.
      claims = this.jwt.verify(token);
    } catch {
      throw new WsRefusal('invalid_credential');
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new WsRefusal('invalid_credential');
    }
    const { exp, sub } = claims as WsJwtClaims;
    if (this.requireExpiration && typeof exp !== 'number') throw new WsRefusal('invalid_credential');
    if (sub !== undefined && typeof sub !== 'string') throw new WsRefusal('invalid_credential');
    return claims as WsJwtClaims;
  }
}
