import { Logger } from '@nestjs/common';
import type { WsAuthJwtOptions, WsJwtAlgorithm, WsJwtClaims } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { parsePayload, parseTokenOf, payloadText, tokenRulesOf, type CompactToken, type TokenKind, type TokenRules } from './token-shape.js';
import { failStartup } from '../startup-checks.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { JwksKeys } from './jwks-keys.js';
import { verifiesSignature } from './jwt-verifier.js';
import { claimsCheck, type ClaimsCheck } from './registered-claims.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

type Jose = typeof import('jose');

const ASYMMETRIC = new Set<WsJwtAlgorithm>(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
const DEFAULT_CACHE_MAX_AGE_MS = 600_000;
const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 5000;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

// jose's codes for failures the token caused. Anything else means the key set could not
// be fetched or read: the key server's outage, which is 503 and never a pass.
const TOKEN_FAULTS = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) failStartup(`jwt.jwks.${name} must be a positive whole number of milliseconds.`);
  return value;
}

/**
 * Verifies tokens against an identity provider's JWKS. `jose` fetches and caches the key set,
 * fetches it again once for a new `kid`, holds back further fetches during its cooldown, and
 * picks the key for a header. The key it picked for an `alg` and `kid` is then kept as a
 * KeyObject (jwks-keys.ts), and later tokens naming the same are verified synchronously with
 * node:crypto, under the same rules as a static key; everything else goes through jose. The
 * token's `kid` only selects among fetched keys; `jku` and `x5u` are never read.
 */
export class JwksVerifier {
  private readonly logger = new Logger('WsAuth');
  private readonly url: URL;
  private readonly algorithms: WsJwtAlgorithm[];
  private readonly rules: TokenRules;
  private readonly fetching: { cacheMaxAge: number; cooldownDuration: number; timeoutDuration: number };
  private readonly checkClaims: ClaimsCheck;
  private jose?: Jose;
  private keys?: JwksKeys;
  private outage = false;
  /** Tokens verified under the current key set: cleared whenever it changes (jwks-keys.ts). */
  readonly verifiedTokens: VerifiedTokenCache;

  constructor(
    private readonly options: WsAuthJwtOptions,
    private readonly kind: TokenKind = 'access',
  ) {
    if (options.secret !== undefined || options.publicKey !== undefined) {
      failStartup('jwt.jwksUri is exclusive with jwt.secret and jwt.publicKey; set one.');
    }
    try {
      this.url = new URL(options.jwksUri!);
    } catch {
      failStartup('jwt.jwksUri is not a valid URL.');
    }
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:') failStartup('jwt.jwksUri must be an https URL.');
    if (this.url.protocol === 'http:' && !LOOPBACK_HOSTS.has(this.url.hostname)) {
      this.logger.warn('jwt.jwksUri is fetched over plain http: anyone on the path can swap the keys. Use https.');
    }
    if (options.algorithms !== undefined && options.algorithms.length === 0) failStartup('jwt.algorithms must not be empty.');
    this.algorithms = options.algorithms ?? ['RS256'];
    const foreign = this.algorithms.filter((alg) => !ASYMMETRIC.has(alg));
    if (foreign.length) failStartup(`a JWKS holds public keys: ${foreign.join(', ')} cannot be used with jwt.jwksUri.`);
    const audiences = options.audience === undefined ? [] : [options.audience].flat();
    if (audiences.some((audience) => typeof audience !== 'string')) failStartup('with jwt.jwksUri, jwt.audience must be strings.');
    // Not fatal (a realm's own key set signs only that realm's tokens), but a key set can be
    // shared: Entra's common keys sign every tenant's tokens, a realm's keys every client's.
    if (options.issuer === undefined) this.logger.warn('jwt.jwksUri without jwt.issuer: a token of any issuer that shares these keys is accepted.');
    if (options.audience === undefined) this.logger.warn('jwt.jwksUri without jwt.audience: a token minted for any client of the provider is accepted.');
    this.rules = tokenRulesOf(options);
    this.checkClaims = claimsCheck(options, this.rules);
    this.verifiedTokens = new VerifiedTokenCache(this.rules.clockToleranceSeconds);
    const { cacheMaxAgeMs = DEFAULT_CACHE_MAX_AGE_MS, cooldownMs = DEFAULT_COOLDOWN_MS, timeoutMs = DEFAULT_TIMEOUT_MS } = options.jwks ?? {};
    this.fetching = {
      cacheMaxAge: positiveInteger('cacheMaxAgeMs', cacheMaxAgeMs),
      cooldownDuration: positiveInteger('cooldownMs', cooldownMs),
      timeoutDuration: positiveInteger('timeoutMs', timeoutMs),
    };
  }

  /**
   * Loads `jose` (a missing dependency stops startup) and fetches the key set once, so the
   * first handshakes find it cached. An unreachable provider does not stop startup: its
   * tokens are refused with 503 until it answers.
   */
  async init(): Promise<void> {
    try {
      this.jose = (await import('jose' as string)) as Jose;
    } catch {
      failStartup('jwt.jwksUri needs the "jose" package: npm install jose');
    }
    this.keys = new JwksKeys(this.jose, this.url, this.fetching, this.algorithms, () => this.verifiedTokens.clear());
    try {
      await this.keys.reload();
    } catch (error) {
      this.reportOutage(error);
    }
  }

  /** Seconds past `exp` a token is still accepted, so the identity it yields must last as long. */
  get clockToleranceSeconds(): number {
    return this.rules.clockToleranceSeconds;
  }

  /**
   * Claims synchronously when the token, or the key its header names, is known under the
   * current key set; a promise when jose has to pick or fetch the key. Refusals decided
   * before any key is needed are thrown.
   */
  verify(token: string): WsJwtClaims | Promise<WsJwtClaims> {
    // Before init, every token gets the same 503, whatever its shape.
    if (!this.jose || !this.keys) return Promise.reject(new WsRefusal('unavailable'));
    const now = Date.now();
    const usable = this.keys.usable();
    if (usable) {
      const known = this.verifiedTokens.get(token, now);
      if (known !== undefined) return known;
    }
    const parsed = parseTokenOf(this.kind, token, this.rules.maxTokenLength);
    const check = usable ? this.keys.checkFor(parsed.header) : undefined;
    if (check === undefined) return this.verifyThroughJose(token, parsed);
    if (!verifiesSignature(check, parsed.signingInput, parsed.signature)) throw new WsRefusal('invalid_credential');
    const claims = this.checkClaims(parsePayload(payloadText(parsed)), now);
    this.verifiedTokens.set(token, claims, now);
    return claims;
  }

  private async verifyThroughJose(token: string, parsed: CompactToken): Promise<WsJwtClaims> {
    // The claims are read as the synchronous path and the cache read them, before any key is
    // fetched: jose's decoder would admit what they refuse (a payload led by a byte order mark),
    // and a token must get one answer whichever path, or the cache, meets it.
    const payload = parsePayload(payloadText(parsed));
    const generation = this.keys!.generation;
    try {
      await this.jose!.jwtVerify(token, this.keys!.resolve, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience as string | string[] | undefined,
        clockTolerance: this.rules.clockToleranceSeconds,
        requiredClaims: this.rules.requireExpiration ? ['exp'] : [],
      });
    } catch (error) {
      if (TOKEN_FAULTS.has((error as { code?: string } | null)?.code ?? '')) throw new WsRefusal('invalid_credential');
      this.reportOutage(error);
      throw new WsRefusal('unavailable');
    }
    if (this.outage) {
      this.outage = false;
      this.logger.log('The JWKS is reachable again.');
    }
    // The same rules as the synchronous path, on top of jose's: one token, one answer. jose
    // admits an RSA signature short of its modulus (OpenSSL's PSS check does): the kept
    // key's check, which does not, judges the signature too. The time is read again: a fetch
    // may have taken seconds.
    const kept = this.keys!.checkFor(parsed.header);
    if (kept !== undefined && !verifiesSignature(kept, parsed.signingInput, parsed.signature)) throw new WsRefusal('invalid_credential');
    const now = Date.now();
    const claims = this.checkClaims(payload, now);
    // Not when the key set changed meanwhile: the token may have been verified under a key now gone.
    if (this.keys!.generation === generation && this.keys!.usable()) this.verifiedTokens.set(token, claims, now);
    return claims;
  }

  /** One line when the outage starts, not one per refused handshake. */
  private reportOutage(error: unknown): void {
    authMetrics.dependencyFailure('jwks');
    if (this.outage) return;
    this.outage = true;
    const code = (error as { code?: string; name?: string } | null)?.code ?? (error as Error | null)?.name ?? 'Error';
    this.logger.error(`The JWKS at ${this.url.origin}${this.url.pathname} could not be used (${code}): tokens are refused with 503.`);
  }
}
