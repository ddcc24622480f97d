import type { WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';

export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
// Three base64url segments; anything else is refused before a JWT library parses it.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Refuses what is too long or not a compact JWS, before any parsing. */
export function assertCompactToken(token: string, maxLength: number): void {
  if (token.length > maxLength || !COMPACT_JWS.test(token)) throw new WsRefusal('invalid_credential');
}

/** Claims the rest of the library can rely on: an object, `exp` when required, a string `sub`. */
export function checkedClaims(claims: unknown, requireExpiration: boolean): WsJwtClaims {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new WsRefusal('invalid_credential');
  const { exp, sub } = claims as WsJwtClaims;
  if (requireExpiration && typeof exp !== 'number') throw new WsRefusal('invalid_credential');
  if (sub !== undefined && typeof sub !== 'string') throw new WsRefusal('invalid_credential');
  return claims as WsJwtClaims;
}
