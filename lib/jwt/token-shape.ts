import { isUtf8 } from 'node:buffer';
import type { WsAuthJwtOptions, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { failStartup } from '../startup-checks.js';
import { isTopicTokenType } from './token-types.js';

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

/** A compact JWS whose shape and protected header passed: what a verifier needs, each decoded once. */
export interface CompactToken {
  readonly header: JoseHeader;
  /** The first two segments exactly as sent: what the signature covers. */
  readonly signingInput: string;
  /** The payload segment, still base64url: decoded only once the signature holds. */
  readonly payload: string;
  readonly signature: string;
}

/** The protected header's members this library reads; the rest are ignored. */
export interface JoseHeader {
  readonly alg?: unknown;
  readonly kid?: unknown;
  readonly typ?: unknown;
}

/**
 * Refuses what is too long, not a compact JWS, or signed under a header this library cannot
 * honour, before any signature work. The header is the only segment decoded here.
 */
export function parseCompactToken(token: string, maxLength: number): CompactToken {
  if (token.length > maxLength || !COMPACT_JWS.test(token)) throw new WsRefusal('invalid_credential');
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (!isCanonical(token, first) || !isCanonical(token, last) || !isCanonical(token, token.length)) throw new WsRefusal('invalid_credential');
  return {
    header: understoodHeader(token.slice(0, first)),
    signingInput: token.slice(0, last),
    payload: token.slice(first + 1, last),
    signature: token.slice(last + 1),
  };
}

/** What a verifier admits: access tokens (connections) or topic tokens (`WsTopics.join`). */
export type TokenKind = 'access' | 'topic';

/**
 * parseCompactToken for one kind of token. Both kinds may be signed by the same keys, so the
 * explicit `typ` (RFC 8725 section 3.11) is all that keeps either from standing in for the
 * other: a topic token must carry it, an access token must not.
 */
export function parseTokenOf(kind: TokenKind, token: string, maxLength: number): CompactToken {
  const parsed = parseCompactToken(token, maxLength);
  if (isTopicTokenType(parsed.header.typ) !== (kind === 'topic')) throw new WsRefusal('invalid_credential');
  return parsed;
}

/** The payload segment's JSON text. COMPACT_JWS admitted only base64url characters. */
export function payloadText(parsed: CompactToken): string {
  return utf8Text(Buffer.from(parsed.payload, 'base64url'));
}

/**
 * RFC 7519 section 7.2 (steps 8 and 10): the header and the claims are UTF-8. Decoding
 * anything else would swap the bad bytes for U+FFFD, so two different tokens could name the
 * same subject; jose refuses them, and so does this.
 */
function utf8Text(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new WsRefusal('invalid_credential');
  return bytes.toString('utf8');
}

/** The payload parsed: anything JSON, which checkedClaims then narrows to claims. */
export function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new WsRefusal('invalid_credential');
  }
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

// An issuer signs every token under one or a few headers: the same segment, decoded and
// checked again on every handshake. The few last seen are kept (frozen, as callers share
// them); a stream of varied headers only empties the set, it never grows past the bound.
const KNOWN_HEADERS = 16;
const knownHeaders = new Map<string, JoseHeader>();

function understoodHeader(segment: string): JoseHeader {
  const known = knownHeaders.get(segment);
  if (known !== undefined) return known;
  const header = Object.freeze(decodedHeader(segment));
  if (knownHeaders.size >= KNOWN_HEADERS) knownHeaders.clear();
  knownHeaders.set(segment, header);
  return header;
}

function decodedHeader(segment: string): JoseHeader {
  let header: unknown;
  try {
    header = JSON.parse(utf8Text(Buffer.from(segment, 'base64url')));
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
  return header as JoseHeader;
}
