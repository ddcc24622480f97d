import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import type { MaybePromise } from '../handshake/maybe-promise.js';
import { JwksVerifier } from './jwks-verifier.js';
import { JwtVerifier } from './jwt-verifier.js';
import type { TokenKind } from './token-shape.js';

/** Turns a compact JWT into checked claims, or throws (or rejects with) a WsRefusal. */
export interface TokenVerifier {
  verify(token: string): MaybePromise<WsJwtClaims>;
  /** Seconds past `exp` the verifier still admits a token: its expiry everywhere else too. */
  readonly clockToleranceSeconds: number;
  /** Runs once at startup, before the first handshake. */
  init?(): Promise<void>;
}

/**
 * A JWKS when `jwksUri` is set (jose fetches and picks keys); otherwise the secret or public key.
 * Both check signatures with node:crypto. One verifier admits one kind of token: each has its
 * own cache of verified tokens, so a token admitted as one kind is never answered as the other.
 */
export function createTokenVerifier(options: WsAuthJwtOptions, kind: TokenKind = 'access'): TokenVerifier {
  return options.jwksUri !== undefined ? new JwksVerifier(options, kind) : new JwtVerifier(options, undefined, kind);
}
