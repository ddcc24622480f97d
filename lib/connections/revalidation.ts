import { HttpException, Logger } from '@nestjs/common';
import type { WsJwtClaims } from '../ws-auth-options.interface.js';
import { withDeadline } from '../handshake/deadline.js';
import { isFromToken } from '../handshake/handshake-authenticator.js';
import { isPromiseLike, type MaybePromise } from '../handshake/maybe-promise.js';
import { issuedAtOf, recordIssuedAt } from '../identity/issued-at.js';
import { identityFromClaims, isObservableLike, type JwtIdentitySettings } from '../identity/jwt-identity.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { errorName, toRefusal } from '../refusals/to-refusal.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { ConnectionSession } from './connection-session.js';
import { sessionOf } from './session-of.js';

/**
 * What one re-check came to. `skipped`: nothing to re-check (see `recheckable`); `stale`: the
 * connection closed or was refreshed while validate() ran, so its answer was dropped;
 * `failed`: validate() failed without a verdict and the connection was kept.
 */
export type RecheckOutcome = 'kept' | 'revised' | 'closed' | 'skipped' | 'stale' | 'failed';

interface Runs {
  running?: Promise<RecheckOutcome>;
  again?: Promise<RecheckOutcome>;
}

// No verdict about the user: the check itself could not be made.
const OUTAGES: ReadonlySet<string> = new Set(['verification_timeout', 'unavailable']);

/**
 * Runs a gateway's `validate()` again on an open connection's claims, so a role change or a
 * deleted user reaches connections that are already open.
 *
 * - A token identity (handshake token, ticket traded for one, in-band or refreshed token) goes
 *   through the gateway's rules again (revocation, validate, rolesOf): a refusal closes it, a
 *   success puts the new user and roles in place. Its credential did not change, so its expiry
 *   does not either. Without validate and rolesOf it is a function of its signed claims alone:
 *   nothing can have changed, and it is skipped.
 * - A ticket the app vouched for (no token behind it) keeps the user and roles it was issued
 *   with: validate() runs again if the gateway has one and a refusal closes the connection, but
 *   an answer never replaces the identity, since only the vouched roles stand for it and a new
 *   identity would lose the mark that keeps a token refresh from turning it into a JWT user.
 * - Identities from `authenticate` or a client certificate are skipped: the library has no hook
 *   that could judge them again (the certificate is read from a request not kept).
 */
export class Revalidation {
  private readonly logger = new Logger('WsAuth');
  private readonly runs = new WeakMap<ConnectionSession, Runs>();
  private readonly requests = new WeakMap<ConnectionSession, number>();
  private failing = false;
  /** @internal validate() failures without a verdict (connection kept), for tests and debugging. */
  failures = 0;

  /**
   * One re-check per connection at a time: asked again while one runs, it runs once more after
   * it (the answer may predate what prompted the second ask), however often it was asked.
   */
  recheck(session: ConnectionSession): Promise<RecheckOutcome> {
    this.requests.set(session, this.requestsOf(session) + 1);
    const runs = this.runs.get(session);
    if (!runs?.running) return this.start(session);
    return (runs.again ??= runs.running.then(() => this.start(session)));
  }

  /**
   * How many re-checks were ever asked for this connection. A refresh compares it before and
   * after its own verification: a re-check asked meanwhile may have been decided on the
   * identity the refresh then replaced (or dropped as stale), so it must run again.
   */
  requestsOf(session: ConnectionSession): number {
    return this.requests.get(session) ?? 0;
  }

  /** Whether a re-check would run `validate()` (or `rolesOf`) for this connection at all. */
  recheckable(session: ConnectionSession): boolean {
    const { identity } = session;
    const jwt = session.authenticator.settings.jwt;
    if (!jwt) return false;
    if (isFromToken(identity)) return Boolean(jwt.validate || jwt.rolesOf);
    return identity.source === 'ticket' && jwt.validate !== undefined;
  }

  private start(session: ConnectionSession): Promise<RecheckOutcome> {
    const runs: Runs = {};
    const running = this.run(session).finally(() => {
      if (this.runs.get(session) === runs) this.runs.delete(session);
    });
    runs.running = running;
    this.runs.set(session, runs);
    return running;
  }

  // Never rejects: a re-check that goes wrong ends in an outcome, not in an unhandled rejection.
  private async run(session: ConnectionSession): Promise<RecheckOutcome> {
    if (sessionOf(session.socket) !== session || !this.recheckable(session)) return 'skipped';
    const before = session.identity;
    const { jwt, verifyTimeoutMs } = session.authenticator.settings;
    let answer: WsIdentity | undefined;
    try {
      const work = isFromToken(before) ? this.identityOf(before, session, jwt!) : this.vouchedUser(before, session, jwt!);
      // Synchronous checks finish in the caller's tick; only waiting work pays for a deadline.
      answer = isPromiseLike(work) ? await withDeadline(work, verifyTimeoutMs) : work;
    } catch (error) {
      if (isStale(session, before)) return 'stale';
      return this.refused(session, error);
    }
    if (isStale(session, before)) return 'stale';
    this.recovered();
    if (!answer || sameIdentity(answer, before)) return 'kept';
    session.revise(answer);
    return 'revised';
  }

  private identityOf(before: WsIdentity, session: ConnectionSession, jwt: JwtIdentitySettings): MaybePromise<WsIdentity> {
    const issuedAt = issuedAtOf(before);
    // The request is kept whenever validate() exists; without it, validate is not called.
    const work = identityFromClaims(before.claims as WsJwtClaims, before.source, session.request!, jwt, issuedAt);
    const keepExpiry = (next: WsIdentity): WsIdentity =>
      recordIssuedAt({ ...next, expiresAt: before.expiresAt, source: before.source }, typeof issuedAt === 'number' ? issuedAt : undefined);
    return isPromiseLike(work) ? work.then(keepExpiry) : keepExpiry(work);
  }

  /** An app-vouched ticket: validate() may refuse it; its identity stays as issued (undefined). */
  private vouchedUser(before: WsIdentity, session: ConnectionSession, jwt: JwtIdentitySettings): MaybePromise<undefined> {
    const judge = (user: unknown): undefined => {
      if (!user) throw new WsRefusal('invalid_credential');
      if (isObservableLike(user)) throw new WsRefusal('internal_error');
      return undefined;
    };
    const verdict = jwt.validate!(before.claims as WsJwtClaims, session.request!);
    return isPromiseLike(verdict) ? verdict.then(judge) : judge(verdict);
  }

  private refused(session: ConnectionSession, error: unknown): RecheckOutcome {
    // A 5xx HttpException (an app wrapping its store's error in InternalServerErrorException)
    // is an outage too, not a verdict on the user.
    const serverError = error instanceof HttpException && error.getStatus() >= 500;
    const verdict = error instanceof WsRefusal || (error instanceof HttpException && !serverError) ? toRefusal(error) : undefined;
    if (!verdict || OUTAGES.has(verdict.reason)) {
      // Fail open, for an open connection only: it passed every check when it opened and at its
      // last re-check, and its credential's expiry still ends it. An outage of the user store
      // says nothing about this user, and closing every connection during one would only turn a
      // slow store into a storm of reconnects that all fail (the handshake answers 500 or 503).
      // A deliberate cut-off does not depend on validate(): WsRevocations or disconnect().
      this.failures++;
      if (!this.failing) {
        this.failing = true;
        this.logger.error(`A re-check could not be made (${verdict ? verdict.reason : errorName(error)}); connections kept until re-checks succeed again`);
      }
      return 'failed';
    }
    // The reason only: the claims and the app's error text stay out of the log.
    this.logger.debug(`A re-check closed a connection: ${verdict.reason} (${verdict.closeCode})`);
    session.close(verdict);
    return 'closed';
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log('Re-checks succeed again');
  }
}

function isStale(session: ConnectionSession, before: WsIdentity): boolean {
  return sessionOf(session.socket) !== session || session.identity !== before;
}

function sameIdentity(next: WsIdentity, before: WsIdentity): boolean {
  return next.user === before.user && next.roles.length === before.roles.length && next.roles.every((role, i) => role === before.roles[i]);
}
