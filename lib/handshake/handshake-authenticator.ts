import type { IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';
import type { WsAuthenticated, WsAuthenticateFn, WsCredentialSource, WsVerdict } from '../ws-auth-options.interface.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { identityFromClaims, identityFromJwt, isObservableLike, type JwtIdentitySettings } from '../identity/jwt-identity.js';
import { recordIssuedAt } from '../identity/issued-at.js';
import type { RevocationList } from '../revocations/revocation-list.js';
import type { TicketBook, TicketGrant } from '../tickets/ticket-book.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { hasDuplicateAuthorization, takeCredential, type CredentialOptions } from './credential.js';
import { withDeadline } from './deadline.js';
import { andThen, type MaybePromise } from './maybe-promise.js';
import type { OriginPolicy } from './origin-policy.js';
import type { GatewayTelemetry } from '../telemetry/gateway-telemetry.js';
import { authMetrics } from '../telemetry/auth-metrics.js';
import type { ConnectionRequirements } from '../authorization/connection-requirements.js';

export interface HandshakeSettings {
  /** `in-band`: the upgrade checks Host and Origin only; the client sends `authenticate`. */
  readonly mode: 'handshake' | 'in-band';
  readonly authTimeoutMs: number;
  readonly maxPreAuthBytes: number;
  readonly expiryWarningMs: number;
  readonly closeGraceMs: number;
  /** Largest message once authenticated (`ws`'s maxPayload unless the gateway sets its own). */
  readonly maxPayload: number;
  readonly origins: OriginPolicy;
  readonly sources: readonly WsCredentialSource[];
  readonly credentialOptions: CredentialOptions;
  readonly verifyTimeoutMs: number;
  readonly jwt?: JwtIdentitySettings;
  readonly tickets: TicketBook;
  readonly revocations: RevocationList;
  readonly authenticate?: WsAuthenticateFn;
  /** The gateway's metrics and events. */
  readonly telemetry: GatewayTelemetry;
}

const logger = new Logger('WsAuth');

// The ticket's own outcome: taken and current, or not. What the gateway then makes of its
// grant (validate, revocation) is the upgrade's outcome, counted with the upgrade.
function redeemed(grant: TicketGrant): TicketGrant {
  authMetrics.ticket('redeem');
  return grant;
}

function refusedRedeem(error: unknown): never {
  authMetrics.ticket('redeem', error instanceof WsRefusal ? error.reason : 'internal_error');
  throw error;
}

// Identities a refresh over the socket must not replace with a token's: they were not made
// from one (an app-vouched ticket; custom and certificate identities are told by `source`).
const notFromToken = new WeakSet<WsIdentity>();
const TOKEN_SOURCES: ReadonlySet<WsIdentity['source']> = new Set(['ticket', 'header', 'subprotocol', 'cookie', 'query', 'message']);

/** Whether a refresh with a JWT may replace this identity: only one that came from a JWT. */
export function isFromToken(identity: WsIdentity): boolean {
  return TOKEN_SOURCES.has(identity.source) && !notFromToken.has(identity);
}

/**
 * The whole decision for one upgrade request, top to bottom: origin, credential, verify,
 * revocation, validate, identity. Every failure is thrown as a WsRefusal (or mapped to one
 * by the caller).
 */
export class HandshakeAuthenticator {
  /**
   * @internal What the gateway classes of this authenticator's server require of a connection
   * (class `@Roles`, `@UseConnectionGuards`), set once by the adapter when it creates the server.
   */
  requirements?: ConnectionRequirements;

  constructor(readonly settings: HandshakeSettings) {}

  /** Throws or rejects with a refusal; only asynchronous work is bounded by the deadline. */
  authenticate(request: IncomingMessage): MaybePromise<WsIdentity> {
    this.admit(request);
    if (hasDuplicateAuthorization(request)) throw new WsRefusal('ambiguous_credential');
    return withDeadline(this.identify(request), this.settings.verifyTimeoutMs);
  }

  /** Checks that hold for every upgrade, in-band gateways included. */
  admit(request: IncomingMessage): void {
    const { host, origin } = request.headers;
    // RFC 9112 section 3.2 and RFC 6455 section 4.1 require Host; Node does not enforce it on upgrades.
    if (!host) throw new WsRefusal('malformed_request');
    // The Origin check comes first so a cross-site page learns nothing about its credential.
    // Both headers are checked: ws reads Sec-WebSocket-Origin alone for version 8 handshakes.
    const legacyOrigin = request.headers['sec-websocket-origin'] as string | undefined;
    if (!this.settings.origins.permits(origin, host) || !this.settings.origins.permits(legacyOrigin, host)) {
      throw new WsRefusal('origin_not_allowed');
    }
  }

  /** A bearer token sent over an open socket (in-band `authenticate`, or a refresh). */
  async identifyToken(token: string, request: IncomingMessage, source: WsIdentity['source']): Promise<WsIdentity> {
    if (!this.settings.jwt) throw new WsRefusal('invalid_credential');
    return withDeadline(identityFromJwt(token, source, request, this.settings.jwt), this.settings.verifyTimeoutMs);
  }

  private identify(request: IncomingMessage): MaybePromise<WsIdentity> {
    const { authenticate, sources, credentialOptions, jwt, tickets } = this.settings;
    if (authenticate) return andThen(authenticate(request), (result) => this.fromAuthenticated(result, 'custom'));

    const credential = takeCredential(request, sources, credentialOptions);
    if (!credential) throw new WsRefusal('missing_credential');
    if (credential.source === 'certificate') {
      const { certificate } = credential;
      const bounds = { expiresAt: Date.parse(certificate.validTo), issuedAt: Math.floor(Date.parse(certificate.validFrom) / 1000) };
      // takeCredential only finds a certificate through the configured reader.
      return andThen(credentialOptions.certificates!.validate(certificate, request), (result) => this.fromAuthenticated(result, 'certificate', bounds));
    }
    if (credential.source === 'ticket') return tickets.redeem(credential.token).then((grant) => this.fromTicket(redeemed(grant), request), refusedRedeem);
    return identityFromJwt(credential.token, credential.source, request, jwt!);
  }

  /** A ticket opens this gateway only as its credential would: this gateway's rules apply. */
  private fromTicket(grant: TicketGrant, request: IncomingMessage): MaybePromise<WsIdentity> {
    const jwt = this.settings.jwt!;
    if (grant.kind === 'token') return identityFromClaims(grant.claims, 'ticket', request, jwt);
    if (this.settings.revocations.covers(grant.subject, grant.claims.jti, grant.issuedAt)) throw new WsRefusal('credential_revoked');
    const vouched = (user: unknown): WsIdentity => {
      if (!user) throw new WsRefusal('invalid_credential');
      if (isObservableLike(user)) throw new WsRefusal('internal_error');
      const identity: WsIdentity = { user, subject: grant.subject, roles: grant.roles, claims: grant.claims, expiresAt: grant.expiresAt, source: 'ticket' };
      notFromToken.add(identity);
      return recordIssuedAt(identity, grant.issuedAt);
    };
    return jwt.validate ? andThen(jwt.validate(grant.claims, request), vouched) : vouched(grant.user);
  }

  private fromAuthenticated(
    result: WsVerdict<WsAuthenticated>,
    source: WsIdentity['source'],
    bounds: { expiresAt?: number; issuedAt?: number } = {},
  ): WsIdentity {
    // Any falsy answer refuses: `false` or `0` from an app check must never pass as a user.
    if (!result || !result.user) throw new WsRefusal('invalid_credential');
    const expiresAt = result.expiresAt ?? bounds.expiresAt;
    // NaN or Infinity would never expire (and NaN would poison the shared expiry schedule).
    if (expiresAt !== undefined && !Number.isFinite(expiresAt)) {
      logger.error(`The ${source} authenticator returned an expiresAt that is not a finite number; refused`);
      throw new WsRefusal('internal_error');
    }
    const claims = result.claims ?? {};
    const issuedAt = typeof claims.iat === 'number' ? claims.iat : bounds.issuedAt;
    if (this.settings.revocations.covers(result.subject, claims.jti, issuedAt)) throw new WsRefusal('credential_revoked');
    return recordIssuedAt({ user: result.user, subject: result.subject, roles: [...(result.roles ?? [])], claims, expiresAt, source }, bounds.issuedAt);
  }
}
