import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { WsConnections } from '../connections/ws-connections.service.js';
import { disconnectReason, type WsDisconnectReason } from '../connections/ws-connection-bus.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import { WsAuthEvents } from '../telemetry/ws-auth-events.service.js';
import type { RevocationList } from './revocation-list.js';
import { revocationKey, WsRevocationStore, type WsRevocation, type WsRevocationSink, type WsRevocationTarget } from './ws-revocation-store.js';

// How long startup waits for a shared store's first read before going on without it.
const FIRST_LOAD_WAIT_MS = 3000;

/**
 * Locks the door `WsConnections.disconnect()` only closes: a revoked subject's credentials
 * issued up to now, or one token by its `jti`, open nothing again on any instance, and their
 * open sockets close with 4403. Every place a credential is accepted (upgrade, in-band
 * `authenticate`, refresh, ticket issue and redemption) reads this instance's copy.
 */
@Injectable()
export class WsRevocations implements OnModuleInit {
  private readonly logger = new Logger('WsAuth');
  private readonly revoked: RevocationList;
  // Revocations the store could not keep: still enforced here, and sent again when it is back.
  private readonly unsynced = new Map<string, WsRevocation>();
  private readonly appliedListeners: Array<() => void> = [];

  constructor(
    private readonly config: WsAuthConfig,
    private readonly connections: WsConnections,
    private readonly store: WsRevocationStore,
    private readonly events: WsAuthEvents,
  ) {
    this.revoked = config.revocations;
  }

  async onModuleInit(): Promise<void> {
    const opened = this.store.open(this.sink);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, FIRST_LOAD_WAIT_MS, 'late')));
    try {
      if ((await Promise.race([opened, late])) === 'late') throw new Error('timeout');
    } catch (error) {
      // Starting anyway keeps the app up; refusing credentials (503) until the store answers
      // keeps a ban from lapsing because an instance started during an outage.
      this.revoked.markUnknown();
      this.logger.error(`Revocations could not be loaded (${(error as Error)?.name ?? 'Error'}): credentials are refused with 503 until they are.`);
      opened.catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Revokes every credential of `subject` issued up to now (the same second included), or the
   * one token `jti` (kept until `expiresAt`, epoch ms: pass the token's `exp` * 1000). Closes
   * the matching sockets on every instance with 4403 and the reason's fixed text; resolves with
   * how many were open here. Rejects when the store could not keep it (it holds here anyway).
   */
  async revoke(target: { subject: string } | { jti: string; expiresAt?: number }, reason: WsDisconnectReason = 'revoked'): Promise<number> {
    const revocation = this.revocationOf(target, disconnectReason(reason));
    this.report(revocation, 'local');
    const closed = this.apply(revocation);
    try {
      await this.store.add(revocation);
      this.unsynced.delete(revocationKey(revocation));
    } catch (error) {
      this.unsynced.set(revocationKey(revocation), revocation);
      throw error;
    }
    return closed;
  }

  /** Undoes a revocation (an admin unbans). Credentials it covered work again if unexpired. */
  async unrevoke(target: WsRevocationTarget): Promise<void> {
    const checked = 'jti' in target ? { jti: nonEmpty('jti', target.jti) } : { subject: nonEmpty('subject', target.subject) };
    this.revoked.remove(checked);
    this.unsynced.delete(revocationKey(checked));
    await this.store.remove(checked);
  }

  /** The live revocations this instance enforces. */
  list(): WsRevocation[] {
    return this.revoked.list();
  }

  /**
   * @internal Called after revocations took effect here (one, or a whole set read again), for
   * what holds credentials besides connections: topic tokens.
   */
  onApplied(listener: () => void): void {
    this.appliedListeners.push(listener);
  }

  /** Whether an identity's credential is revoked now, as far as this instance knows. */
  isRevoked(identity: WsIdentity): boolean {
    return this.revoked.coversIdentity(identity);
  }

  private readonly sink: WsRevocationSink = {
    added: (revocation) => {
      // A shared store hands this instance its own revocations back too: only news is reported.
      if (!this.revoked.holds(revocation)) this.report(revocation, 'remote');
      this.apply(revocation);
    },
    removed: (target) => void this.revoked.remove(target),
    replaced: (revocations) => {
      this.revoked.replace(revocations);
      // What was revoked here while the store was away is not in its set: keep enforcing it,
      // and try to share it again now that the store answers.
      for (const [key, revocation] of this.unsynced) {
        if (revocation.expiresAt <= Date.now()) {
          this.unsynced.delete(key);
          continue;
        }
        this.revoked.add(revocation);
        this.store.add(revocation).then(
          () => this.unsynced.delete(key),
          () => undefined,
        );
      }
      this.connections.closeWhere((identity) => this.isRevoked(identity), 'revoked');
      this.applied();
    },
  };

  private applied(): void {
    for (const listener of this.appliedListeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error(`A revocation listener threw ${(error as Error)?.name ?? 'an error'}`);
      }
    }
  }

  private report(revocation: WsRevocation, origin: 'local' | 'remote'): void {
    authMetrics.revocation(revocation.kind, origin);
    if (!this.events.observed) return;
    const reason = revocation.reason ?? 'revoked';
    const at = Date.now();
    this.events.emit(
      revocation.kind === 'subject'
        ? { type: 'credential.revoked', kind: 'subject', subject: revocation.subject, reason, origin, at }
        : { type: 'credential.revoked', kind: 'jti', jti: revocation.jti, reason, origin, at },
    );
  }

  private apply(revocation: WsRevocation): number {
    this.revoked.add(revocation);
    const reason = revocation.reason ?? 'revoked';
    const covered = (identity: WsIdentity) => this.isRevoked(identity);
    const closed =
      revocation.kind === 'subject' ? this.connections.closeWhere(covered, reason, revocation.subject) : this.connections.closeWhere(covered, reason);
    this.applied();
    return closed;
  }

  private revocationOf(target: { subject: string } | { jti: string; expiresAt?: number }, reason: WsDisconnectReason): WsRevocation {
    const now = Date.now();
    // The verifier admits a token until exp + tolerance, and the lifetime rule allows
    // exp - iat up to the lifetime + tolerance: a revocation must outlast both.
    const toleranceMs = this.config.clockToleranceSeconds * 1000;
    const keptUntil = now + this.config.revocationLifetimeMs + 2 * toleranceMs;
    if (typeof target !== 'object' || target === null) throw new TypeError('WsRevocations: revoke({ subject }) or revoke({ jti, expiresAt? }).');
    if ('jti' in target) {
      const { expiresAt } = target;
      if (expiresAt !== undefined && !Number.isFinite(expiresAt)) throw new TypeError('WsRevocations: expiresAt must be epoch milliseconds.');
      // Given as `exp * 1000`, as documented: the verifier still admits the token until exp + tolerance.
      return { kind: 'jti', jti: nonEmpty('jti', target.jti), expiresAt: expiresAt === undefined ? keptUntil : expiresAt + toleranceMs, reason };
    }
    // JWT `iat` has whole seconds: a token issued in this same second counts as revoked, and so
    // does one an issuer whose clock runs ahead (within the tolerated skew) stamped later.
    const cutoff = Math.floor(now / 1000) + this.config.clockToleranceSeconds;
    // A covered token has iat <= cutoff, so exp <= cutoff + lifetime + tolerance, admitted
    // until exp + tolerance (plus the second jsonwebtoken floors the clock to).
    const subjectUntil = Math.max(keptUntil, (cutoff + 1) * 1000 + this.config.revocationLifetimeMs + 2 * toleranceMs);
    return { kind: 'subject', subject: nonEmpty('subject', target.subject), cutoff, expiresAt: subjectUntil, reason };
  }
}

function nonEmpty(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`WsRevocations: ${name} must be a non-empty string.`);
  return value;
}
