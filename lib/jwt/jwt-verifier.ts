import { JwtService } from '@nestjs/jwt';
import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { createJwtKey } from './jwt-key.js';
import { assertCompactToken, checkedClaims, tokenRulesOf, type TokenRules } from './token-shape.js';

/** Verifies a compact JWT against a secret or public key with pinned options; every failure is the same refusal. */
export class JwtVerifier {
  private readonly jwt: JwtService;
  private readonly rules: TokenRules;

  constructor(options: WsAuthJwtOptions) {
    const { key, algorithms } = createJwtKey(options);
    this.rules = tokenRulesOf(options);
    this.jwt = new JwtService({
      secret: key,
      verifyOptions: {
        algorithms: algorithms as never,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: this.rules.clockToleranceSeconds,
      },
    });
  }

  /** Seconds past `exp` a token is still accepted, so the identity it yields must last as long. */
  get clockToleranceSeconds(): number {
    return this.rules.clockToleranceSeconds;
  }

  verify(token: string): WsJwtClaims {
    assertCompactToken(token, this.rules.maxTokenLength);
    let claims: unknown;
    try {
      // Synchronous: with a KeyObject there is no I/O, and the callback form only adds a
      // promise and a closure per token.
      claims = this.jwt.verify(token);
    } catch {
      throw new WsRefusal('invalid_credential');
    }
    return checkedClaims(claims, this.rules.requireExpiration);
  }
}
