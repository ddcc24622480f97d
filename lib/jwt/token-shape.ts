import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { failStartup } from '../startup-checks.js';

const DEFAULT_MAX_TOKEN_LENGTH = 8192;
// Three base64url segments; anything else is refused before a JWT library parses it.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// The largest ECMAScript time value is 8.64e15 ms (ECMA-262 section 21.4.1.1). A NumericDate
// beyond it is no date at all, and its milliseconds could round to Infinity downstream.
const MAX_NUMERIC_DATE = 8.64e12;
const NUMERIC_DATES = ['exp', 'nbf', 'iat'] as const;

/** The options every verifier applies the same way, checked once at startup. */
export interface TokenRules {
  readonly maxTokenLength: number;
  readonly clockToleranceSeconds: number;
  readonly requireExpiration: boolean;
}

export function tokenRulesOf(options: WsAuthJwtOptions): TokenRules {
  const { maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH, clockToleranceSeconds = 0, requireExpiration = true } = options;
  // `token.length > NaN` is never true: a bad limit would be no limit.
  if (!Number.isSafeInteger(maxTokenLength) || maxTokenLength <= 0) failStartup('jwt.maxTokenLength must be a positive whole number.');
  // Both libraries add the tolerance to `exp`: Infinity never expires, and jsonwebtoken turns
  // the string '5' into `exp + '5'`, ten times the date.
  if (typeof clockToleranceSeconds !== 'number' || !Number.isFinite(clockToleranceSeconds) || clockToleranceSeconds < 0) {
    failStartup('jwt.clockToleranceSeconds must be a finite number of seconds, 0 or more.');
  }
  return { maxTokenLength, clockToleranceSeconds, requireExpiration: requireExpiration !== false };
}

/**
 * Refuses what is too long, not a compact JWS, or signed under a header this library cannot
 * honour, before any JWT library parses it. The header is the only segment decoded here; the
 * payload is left to the verifier, so a handshake pays for one small extra JSON.parse.
 */
export function assertCompactToken(token: string, maxLength: number): void {
  if (token.length > maxLength || !COMPACT_JWS.test(token)) throw new WsRefusal('invalid_credential');
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (!isCanonical(token, first) || !isCanonical(token, last) || !isCanonical(token, token.length)) throw new WsRefusal('invalid_credential');
  assertUnderstoodHeader(token.slice(0, first));
}

/**
 * Whether the base64url segment ending at `end` is the one encoding of its bytes (RFC 4648
 * section 3.5): a length that leaves no lone character, and zero bits past the last byte.
 * Decoders ignore those bits, so without this check one token has many spellings that all
 * verify (jose and fast-jwt accept them; jsonwebtoken compares HMAC signatures as text).
 */
function isCanonical(token: string, end: number): boolean {
  const start = token.lastIndexOf('.', end - 1) + 1;
  const rest = (end - start) % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  return (sextet(token.charCodeAt(end - 1)) & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

// The value of a base64url character (RFC 4648 Table 2); COMPACT_JWS let no other through.
function sextet(code: number): number {
  if (code >= 97) return code - 71;
  if (code === 95) return 63;
  if (code >= 65) return code - 65;
  if (code === 45) return 62;
  return code + 4;
}

/** Claims the rest of the library can rely on: an object, finite dates, `exp` when required, a string `sub`. */
export function checkedClaims(claims: unknown, requireExpiration: boolean): WsJwtClaims {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new WsRefusal('invalid_credential');
  const { exp, sub } = claims as WsJwtClaims;
  if (requireExpiration && exp === undefined) throw new WsRefusal('invalid_credential');
  // `exp: 1e309` parses as Infinity: jsonwebtoken and jose both compare it and find it never
  // expires. A date is a finite number (RFC 7519 section 2, NumericDate) or it is refused.
  for (const name of NUMERIC_DATES) {
    const value = (claims as WsJwtClaims)[name];
    if (value !== undefined && !isNumericDate(value)) throw new WsRefusal('invalid_credential');
  }
  if (sub !== undefined && typeof sub !== 'string') throw new WsRefusal('invalid_credential');
  return claims as WsJwtClaims;
}

function isNumericDate(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= MAX_NUMERIC_DATE;
}

function assertUnderstoodHeader(segment: string): void {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new WsRefusal('invalid_credential');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new WsRefusal('invalid_credential');
  // RFC 7515 section 4.1.11: a recipient must refuse a token whose `crit` names an extension it
  // does not understand, and this library understands none. jsonwebtoken ignores `crit`
  // entirely, so the rule is kept here, for every verifier; even `crit: []` is malformed.
  if (Object.hasOwn(header, 'crit')) throw new WsRefusal('invalid_credential');
  // RFC 7797: `b64: false` signs the raw payload, not its base64url. Verified the usual way,
  // the signature would cover bytes the signer never meant as claims.
  const { b64 } = header as { b64?: unknown };
  if (b64 !== undefined && b64 !== true) throw new WsRefusal('invalid_credential');
}
