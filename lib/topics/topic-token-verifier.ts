import { createTokenVerifier, type TokenVerifier } from '../jwt/token-verifier.js';
import { validityOf } from '../jwt/verified-token-cache.js';
import type { WsAuthJwtOptions } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { isTopicPattern } from './topic-patterns.js';
import type { WsTopicTokenOptions } from './ws-topics-options.js';

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
 * Topic tokens through the access tokens' verifiers (shape, pinned algorithms, signature,
 * registered claims, a JWKS), made for the other kind: the header `typ` must name a topic token
 * (RFC 8725 section 3.11), where an access token must not. On top: a `sub`, an `exp` and a
 * `topic` claim naming the topic or a `prefix*`.
 */
export class TopicTokenVerifier {
  private readonly verifier: TokenVerifier;

  constructor(options: WsTopicTokenOptions) {
    // A topic token that never expires would be a standing key to the topic.
    this.verifier = createTokenVerifier({ ...options, requireExpiration: true }, 'topic');
  }

  init(): Promise<void> {
    return this.verifier.init?.() ?? Promise.resolve();
  }

  /** The grant of a token, or a WsRefusal; any failure is the same refusal. */
  async verify(token: string): Promise<TopicGrantClaims> {
    let claims;
    try {
      claims = await this.verifier.verify(token);
    } catch {
      throw new WsRefusal('forbidden');
    }
    const { sub, topic, exp, iat, jti } = claims;
    if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number' || !isTopicPattern(topic)) throw new WsRefusal('forbidden');
    return {
      subject: sub,
      pattern: topic,
      expiresAt: validityOf(claims, this.verifier.clockToleranceSeconds).expiresAt,
      issuedAt: iat,
      id: jti,
      lifetimeSeconds: typeof iat === 'number' ? exp - Math.min(iat, Date.now() / 1000) : undefined,
    };
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
