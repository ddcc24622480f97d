import { isTopicTokenType, TOPIC_TOKEN_TYPE } from '../jwt/token-types.js';
import { JwksVerifier } from '../jwt/jwks-verifier.js';
import { signatureCheck, type SignatureCheck } from '../jwt/jws-signature.js';
import { createJwtKey } from '../jwt/jwt-key.js';
import { verifiesSignature } from '../jwt/jwt-verifier.js';
import { claimsCheck, type ClaimsCheck } from '../jwt/registered-claims.js';
import { parseCompactToken, parsePayload, payloadText, tokenRulesOf, type TokenRules } from '../jwt/token-shape.js';
import { validityOf } from '../jwt/verified-token-cache.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { WsAuthJwtOptions, WsJwtAlgorithm, WsJwtClaims } from '../ws-auth-options.interface.js';
import { isTopicPattern } from './topic-patterns.js';
import type { WsTopicTokenOptions } from './ws-topics-options.js';

type Jose = typeof import('jose');

/** What a verified topic token grants: one subject, the topics its pattern covers, until `expiresAt`. */
export interface TopicGrantClaims {
  readonly subject: string;
  readonly pattern: string;
  /** Epoch ms: `exp` plus the tolerated clock skew, the instant the verifier stops admitting it. */
  readonly expiresAt: number;
  /** `iat` and `jti`, for the revocation check: a topic token is a credential like any other. */
  readonly issuedAt: unknown;
  readonly id: unknown;
  /** `exp - iat` in seconds, when both are there. */
  readonly lifetimeSeconds?: number;
}

/**
 * Verifies topic tokens under the access tokens' rules (lib/jwt: shape, pinned algorithms,
 * node:crypto signature checks, registered claims), plus what makes a JWT a topic token: the
 * header `typ` (RFC 8725 section 3.11, so an access token can never be replayed as one), a
 * `sub`, an `exp` and a `topic` claim. lib/jwt's verifiers refuse that `typ` outright (they
 * verify access tokens), so the same parts are put together here with the opposite rule.
 */
export class TopicTokenVerifier {
  private readonly rules: TokenRules;
  private readonly checkClaims: ClaimsCheck;
  private readonly signatures?: ReadonlyMap<unknown, SignatureCheck>;
  private readonly remote?: RemoteTopicKeys;

  constructor(options: WsTopicTokenOptions) {
    // A topic token that never expires would be a standing key to the topic.
    const checked: WsAuthJwtOptions = { ...options, requireExpiration: true };
    this.rules = tokenRulesOf(checked);
    this.checkClaims = claimsCheck(checked, this.rules);
    if (checked.jwksUri !== undefined) {
      this.remote = new RemoteTopicKeys(checked, this.rules);
    } else {
      const { key, algorithms } = createJwtKey(checked);
      this.signatures = new Map(algorithms.map((alg: WsJwtAlgorithm) => [alg, signatureCheck(alg, key)]));
    }
  }

  init(): Promise<void> {
    return this.remote?.init() ?? Promise.resolve();
  }

  /** The grant of a token, or a WsRefusal; any failure is the same refusal. */
  async verify(token: string): Promise<TopicGrantClaims> {
    const parsed = parseCompactToken(token, this.rules.maxTokenLength);
    if (!isTopicTokenType(parsed.header.typ)) throw new WsRefusal('forbidden');
    const now = Date.now();
    let claims: WsJwtClaims;
    if (this.remote) {
      claims = this.checkClaims(await this.remote.verify(token), now);
    } else {
      const check = this.signatures!.get(parsed.header.alg);
      if (check === undefined || !verifiesSignature(check, parsed.signingInput, parsed.signature)) throw new WsRefusal('forbidden');
      claims = this.checkClaims(parsePayload(payloadText(parsed)), now);
    }
    const { sub, topic, exp, iat, jti } = claims;
    if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number' || !isTopicPattern(topic)) throw new WsRefusal('forbidden');
    return {
      subject: sub,
      pattern: topic,
      expiresAt: validityOf(claims, this.rules.clockToleranceSeconds).expiresAt,
      issuedAt: iat,
      id: jti,
      lifetimeSeconds: typeof iat === 'number' ? exp - Math.min(iat, now / 1000) : undefined,
    };
  }
}

/** An identity provider's key set for topic tokens, through jose, checked by the same startup rules as `jwt.jwksUri`. */
class RemoteTopicKeys {
  private jose?: Jose;
  private keys?: ReturnType<Jose['createRemoteJWKSet']>;

  constructor(
    private readonly options: WsAuthJwtOptions,
    private readonly rules: TokenRules,
  ) {
    // Built for its startup checks only (URL, algorithms, audiences): it never fetches.
    void new JwksVerifier(options);
  }

  async init(): Promise<void> {
    this.jose = (await import('jose' as string)) as Jose;
    const { cacheMaxAgeMs = 600_000, cooldownMs = 30_000, timeoutMs = 5000 } = this.options.jwks ?? {};
    this.keys = this.jose.createRemoteJWKSet(new URL(this.options.jwksUri!), {
      cacheMaxAge: cacheMaxAgeMs,
      cooldownDuration: cooldownMs,
      timeoutDuration: timeoutMs,
    });
  }

  async verify(token: string): Promise<unknown> {
    if (!this.jose || !this.keys) throw new WsRefusal('unavailable');
    try {
      const { payload } = await this.jose.jwtVerify(token, this.keys, {
        algorithms: this.options.algorithms ?? ['RS256'],
        issuer: this.options.issuer,
        audience: this.options.audience as string | string[] | undefined,
        clockTolerance: this.rules.clockToleranceSeconds,
        requiredClaims: ['exp'],
        typ: TOPIC_TOKEN_TYPE,
      });
      return payload;
    } catch {
      throw new WsRefusal('forbidden');
    }
  }
}

/** The topic token options: `tokens` when it names a key, else the module `jwt` key under `tokens`' other checks. */
export function topicTokenOptions(tokens: WsTopicTokenOptions | undefined, jwt: WsAuthJwtOptions | undefined): WsTopicTokenOptions | undefined {
  const ownKey = tokens?.secret !== undefined || tokens?.publicKey !== undefined || tokens?.jwksUri !== undefined;
  if (ownKey) return tokens;
  if (!jwt) return undefined;
  const { secret, publicKey, jwksUri, jwks, algorithms, issuer, audience, clockToleranceSeconds, maxTokenLength } = jwt;
  return { secret, publicKey, jwksUri, jwks, algorithms, issuer, audience, clockToleranceSeconds, maxTokenLength, ...definedOnly(tokens) };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
