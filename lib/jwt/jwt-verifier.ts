import { JwtService } from '@nestjs/jwt';
import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { createJwtKey } from './jwt-key.js';
import { assertCompactToken, checkedClaims, DEFAULT_MAX_TOKEN_LENGTH } from './token-shape.js';

/** Verifies a compact JWT against a secret or public key with pinned options; every failure is the same refusal. */
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
        algorithms: algorithms as never,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 0,
      },
    });
  }

  verify(token: string): WsJwtClaims {
    assertCompactToken(token, this.maxTokenLength);
    let claims: unknown;
    try {
      // Synchronous: with a KeyObject there is no I/O, and the callback form only adds a
      // promise and a closure per token.
      claims = this.jwt.verify(token);
    } catch {
      throw new WsRefusal('invalid_credential');
    }
    return checkedClaims(claims, this.requireExpiration);
  }
}
