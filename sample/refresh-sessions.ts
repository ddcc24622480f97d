import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import { SAMPLE_DEFAULTS, type SampleConfig } from './sample.config.js';
import { RefreshTokenStore, type IssuedAccessToken, type RefreshFamily, type RotateOutcome } from './refresh-token-store.js';

/** A session about to begin: its id becomes the access tokens' `sid` claim. */
export interface NewSession {
  id: string;
  subject: string;
  expiresAt: number;
}

/**
 * Refresh tokens with rotation and reuse detection. Every refresh spends the presented token
 * and hands out its successor; presenting a spent one again means two parties hold the same
 * session (a thief and the victim), so the whole family ends and both log in again.
 * Only SHA-256 hashes of the tokens are stored.
 */
@Injectable()
export class RefreshSessions {
  private readonly ttlMs: number;

  constructor(
    private readonly store: RefreshTokenStore,
    @Inject(SAMPLE_CONFIG) config: SampleConfig,
  ) {
    this.ttlMs = (config.refreshTokenTtlSeconds ?? SAMPLE_DEFAULTS.refreshTokenTtlSeconds) * 1000;
  }

  open(subject: string): NewSession {
    return { id: randomUUID(), subject, expiresAt: Date.now() + this.ttlMs };
  }

  /** Persists a new session with its first access token; resolves with its first refresh token. */
  async begin(session: NewSession, access: IssuedAccessToken): Promise<string> {
    const token = newToken();
    await this.store.create(session, hashOf(token), access);
    return token;
  }

  /** Spends `presented`; when it was the family's live token, `token` is its successor. */
  async rotate(presented: string, access: IssuedAccessToken): Promise<RotateOutcome & { token?: string }> {
    const token = newToken();
    const outcome = await this.store.rotate(hashOf(presented), hashOf(token), access);
    return outcome.kind === 'rotated' ? { ...outcome, token } : outcome;
  }

  end(sessionId: string): Promise<RefreshFamily | undefined> {
    return this.store.end(sessionId);
  }

  endAllOf(subject: string): Promise<RefreshFamily[]> {
    return this.store.endAllOf(subject);
  }
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
