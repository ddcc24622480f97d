import type { IncomingMessage } from 'node:http';
import type { WsAuthenticated, WsAuthenticateFn, WsCredentialSource, WsVerdict } from '../ws-auth-options.interface.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { identityFromJwt, type JwtIdentitySettings } from '../identity/jwt-identity.js';
import type { TicketBook } from '../tickets/ticket-book.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { hasDuplicateAuthorization, takeCredential, type CredentialOptions } from './credential.js';
import { withDeadline } from './deadline.js';
import { andThen, type MaybePromise } from './maybe-promise.js';
import type { OriginPolicy } from './origin-policy.js';

export interface HandshakeSettings {
  /** `in-band`: the upgrade checks Host and Origin only; the client sends `authenticate`. */
  readonly mode: 'handshake' | 'in-band';
  readonly authTimeoutMs: number;
  readonly maxPreAuthBytes: number;
  readonly expiryWarningMs: number;
  readonly origins: OriginPolicy;
  readonly sources: readonly WsCredentialSource[];
  readonly credentialOptions: CredentialOptions;
  readonly verifyTimeoutMs: number;
  readonly jwt?: JwtIdentitySettings;
  readonly tickets: TicketBook;
  readonly authenticate?: WsAuthenticateFn;
}

/**
 * The whole decision for one upgrade request, top to bottom: origin, credential, verify,
 * validate, identity. Every failure is thrown as a WsRefusal (or mapped to one by the caller).
 */
export class HandshakeAuthenticator {
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
    if (authenticate) return andThen(authenticate(request), (result) => identityFromAuthenticated(result, 'custom'));

    const credential = takeCredential(request, sources, credentialOptions);
    if (!credential) throw new WsRefusal('missing_credential');
    if (credential.source === 'certificate') {
      const { certificate } = credential;
      const validTo = Date.parse(certificate.validTo);
      // takeCredential only finds a certificate through the configured reader.
      return andThen(credentialOptions.certificates!.validate(certificate, request), (result) =>
        identityFromAuthenticated(result, 'certificate', validTo),
      );
    }
    // A ticket was checked when it was issued; redeeming it is all that is left to do.
    if (credential.source === 'ticket') return tickets.redeem(credential.token);
    return identityFromJwt(credential.token, credential.source, request, jwt!);
  }
}

function identityFromAuthenticated(
  result: WsVerdict<WsAuthenticated>,
  source: WsIdentity['source'],
  expiresAt?: number,
): WsIdentity {
  // Any falsy answer refuses: `false` or `0` from an app check must never pass as a user.
  if (!result || !result.user) throw new WsRefusal('invalid_credential');
  return {
    user: result.user,
    subject: result.subject,
    roles: [...(result.roles ?? [])],
    claims: result.claims ?? {},
    expiresAt: result.expiresAt ?? expiresAt,
    source,
  };
}
