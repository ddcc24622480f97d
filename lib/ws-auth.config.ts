import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import type { WsAuthGatewayOptions, WsAuthOptions, WsCredentialSource } from './ws-auth-options.interface.js';
import {
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PENDING_PER_ADDRESS,
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  DEFAULT_TICKETS_PER_SUBJECT,
  DEFAULT_CREDENTIAL_NAME,
  DEFAULT_CREDENTIAL_SOURCES,
  DEFAULT_EXPIRY_WARNING_MS,
  DEFAULT_MAX_PENDING_AUTHENTICATIONS,
  DEFAULT_MAX_PRE_AUTH_BYTES,
  DEFAULT_ROLES_CLAIM,
  DEFAULT_TICKET_TTL_SECONDS,
  DEFAULT_VERIFY_TIMEOUT_MS,
  WS_AUTH_OPTIONS,
} from './ws-auth.constants.js';
import { createTokenVerifier, type TokenVerifier } from './jwt/token-verifier.js';
import { HandshakeAuthenticator } from './handshake/handshake-authenticator.js';
import { ClientCertificateReader } from './handshake/client-certificate.js';
import { OriginPolicy } from './handshake/origin-policy.js';
import { identityFromJwt, type JwtIdentitySettings } from './identity/jwt-identity.js';
import type { WsIdentity } from './identity/ws-identity.js';
import { WsRefusal } from './refusals/ws-refusal.js';
import { TicketBook } from './tickets/ticket-book.js';
import { RevocationList } from './revocations/revocation-list.js';
import { WsTicketStore } from './tickets/ws-ticket-store.js';
import { failStartup, TOKEN_NAME } from './startup-checks.js';
import { authMetrics } from './telemetry/auth-metrics.js';
import { GatewayTelemetry } from './telemetry/gateway-telemetry.js';
import { WsAuthEvents } from './telemetry/ws-auth-events.service.js';

const SOURCES: ReadonlySet<string> = new Set<WsCredentialSource>(['ticket', 'header', 'subprotocol', 'cookie', 'query', 'certificate']);

// `{ allowedOrigins: undefined }` in a gateway must not switch the module's allowlist off.
function definedOnly<T extends object>(overrides: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(overrides ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function checkSources(sources: readonly string[]): void {
  if (sources.length === 0) failStartup('credentials must list at least one source.');
  for (const source of sources) if (!SOURCES.has(source)) failStartup(`unknown credential source "${source}".`);
  if (new Set(sources).size !== sources.length) failStartup('credentials lists a source twice.');
}

function checkPositive(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) failStartup(`${name} must be a positive number.`);
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) failStartup(`${name} must be a positive whole number.`);
}

/**
 * The module's options, checked once at startup: options that cannot be safe stop the app
 * with a message rather than run open. The JWT key is built here, once, for every gateway.
 */
@Injectable()
export class WsAuthConfig implements OnModuleInit {
  private readonly verifier?: TokenVerifier;
  private readonly certificates?: ClientCertificateReader;
  private readonly maxTokenLifetimeSeconds: number;
  /** @internal */
  readonly tickets: TicketBook;
  /** @internal This instance's copy of every live revocation, read on each upgrade. */
  readonly revocations = new RevocationList();

  constructor(
    @Inject(WS_AUTH_OPTIONS) readonly options: WsAuthOptions,
    ticketStore: WsTicketStore,
    /** @internal */
    @Optional() readonly events: WsAuthEvents = new WsAuthEvents(),
  ) {
    if (!options || typeof options !== 'object') failStartup('options are required.');
    if (!options.jwt && !options.authenticate && !options.clientCertificate) {
      failStartup('set jwt (a secret, a publicKey or a jwksUri), clientCertificate or an authenticate function.');
    }
    if (options.jwt) this.verifier = createTokenVerifier(options.jwt);
    if (options.clientCertificate) this.certificates = new ClientCertificateReader(options.clientCertificate);
    const ticketTtlSeconds = options.tickets?.ttlSeconds ?? DEFAULT_TICKET_TTL_SECONDS;
    checkPositive('tickets.ttlSeconds', ticketTtlSeconds);
    const ticketsPerSubject = options.tickets?.maxPerSubject ?? DEFAULT_TICKETS_PER_SUBJECT;
    checkCount('tickets.maxPerSubject', ticketsPerSubject);
    this.tickets = new TicketBook(ticketStore, ticketTtlSeconds * 1000, ticketsPerSubject, this.revocations);
    this.maxTokenLifetimeSeconds = options.revocation?.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
    checkPositive('revocation.maxTokenLifetimeSeconds', this.maxTokenLifetimeSeconds);
    checkCount('maxPendingAuthentications', this.maxPendingAuthentications);
    checkCount('maxPendingAuthenticationsPerAddress', this.maxPendingAuthenticationsPerAddress);
    const revalidateIntervalMs = this.revalidateIntervalMs;
    if (typeof revalidateIntervalMs !== 'number' || !Number.isFinite(revalidateIntervalMs) || revalidateIntervalMs < 0) {
      failStartup('revalidateIntervalMs must be 0 or a positive number.');
    }
    this.authenticatorFor(undefined);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.verifier?.init?.(), authMetrics.load()]);
  }

  /** @internal In-band sockets allowed to wait for authentication at once, across gateways. */
  get maxPendingAuthentications(): number {
    return this.options.maxPendingAuthentications ?? DEFAULT_MAX_PENDING_AUTHENTICATIONS;
  }

  /** @internal In-band sockets one remote address may hold waiting for authentication at once. */
  get maxPendingAuthenticationsPerAddress(): number {
    return this.options.maxPendingAuthenticationsPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS;
  }

  /** @internal How often every open connection is re-checked; 0: never. */
  get revalidateIntervalMs(): number {
    return this.options.revalidateIntervalMs ?? 0;
  }

  /** @internal Seconds of clock skew tolerated on tokens (0 without JWT options). */
  get clockToleranceSeconds(): number {
    return this.verifier?.clockToleranceSeconds ?? 0;
  }

  /** @internal How long a revocation by subject is kept: the longest any credential may live. */
  get revocationLifetimeMs(): number {
    return this.maxTokenLifetimeSeconds * 1000;
  }

  /** @internal The identity a bearer token stands for under the module options (verify, then validate). */
  async identityFromToken(token: string, request: IncomingMessage): Promise<WsIdentity> {
    if (!this.verifier) throw new WsRefusal('invalid_credential');
    return identityFromJwt(token, 'header', request, this.jwtSettings(this.options));
  }

  /**
   * @internal Builds the authenticator of one gateway: its `wsAuth` overrides over the module
   * options. `gateway` labels its metrics and events (see gatewayLabel).
   */
  authenticatorFor(overrides: WsAuthGatewayOptions | undefined, gateway = '/'): HandshakeAuthenticator {
    const merged = { ...this.options, ...definedOnly(overrides) };
    const sources = merged.credentials ?? this.defaultSources();
    checkSources(sources);
    if (sources.includes('certificate') && !this.certificates) failStartup('the "certificate" credential source needs clientCertificate options.');
    const cookieName = merged.cookieName ?? DEFAULT_CREDENTIAL_NAME;
    const queryParam = merged.queryParam ?? DEFAULT_CREDENTIAL_NAME;
    if (!TOKEN_NAME.test(cookieName)) failStartup(`cookieName "${cookieName}" is not a valid cookie name.`);
    if (!TOKEN_NAME.test(queryParam)) failStartup(`queryParam "${queryParam}" is not a valid parameter name.`);
    const verifyTimeoutMs = merged.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
    checkPositive('verifyTimeoutMs', verifyTimeoutMs);
    const onlyCertificates = sources.every((source) => source === 'certificate');
    if (!merged.authenticate && !this.verifier && !onlyCertificates) failStartup('a gateway without authenticate needs the module jwt options.');
    const mode = merged.mode ?? 'handshake';
    if (mode !== 'handshake' && mode !== 'in-band') failStartup(`unknown mode "${String(mode)}".`);
    if (mode === 'in-band' && !this.verifier) failStartup('in-band authentication verifies JWTs: set the module jwt options.');
    const authTimeoutMs = merged.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
    const maxPreAuthBytes = merged.maxPreAuthBytes ?? DEFAULT_MAX_PRE_AUTH_BYTES;
    const expiryWarningMs = merged.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS;
    const closeGraceMs = merged.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    const maxPayload = merged.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    checkPositive('authTimeoutMs', authTimeoutMs);
    checkPositive('maxPreAuthBytes', maxPreAuthBytes);
    checkPositive('closeGraceMs', closeGraceMs);
    checkCount('maxPayload', maxPayload);
    if (!Number.isFinite(expiryWarningMs) || expiryWarningMs < 0) failStartup('expiryWarningMs must be 0 or more.');

    return new HandshakeAuthenticator({
      mode,
      authTimeoutMs,
      maxPreAuthBytes,
      expiryWarningMs,
      closeGraceMs,
      maxPayload,
      origins: new OriginPolicy(merged.allowedOrigins),
      sources,
      credentialOptions: { cookieName, queryParam, certificates: this.certificates },
      verifyTimeoutMs,
      jwt: this.verifier && this.jwtSettings(merged),
      tickets: this.tickets,
      revocations: this.revocations,
      authenticate: merged.authenticate,
      telemetry: new GatewayTelemetry(gateway, this.events),
    });
  }

  /** Certificates come first when configured; without JWT options they are all there is. */
  private defaultSources(): WsCredentialSource[] {
    if (!this.certificates) return [...DEFAULT_CREDENTIAL_SOURCES];
    return this.verifier ? ['certificate', ...DEFAULT_CREDENTIAL_SOURCES] : ['certificate'];
  }

  private jwtSettings(options: WsAuthGatewayOptions): JwtIdentitySettings {
    return {
      verifier: this.verifier!,
      validate: options.validate,
      rolesClaim: options.rolesClaim ?? DEFAULT_ROLES_CLAIM,
      rolesOf: options.rolesOf,
      clockToleranceSeconds: this.verifier!.clockToleranceSeconds,
      maxTokenLifetimeSeconds: this.maxTokenLifetimeSeconds,
      requireIssuedAt: this.options.revocation?.requireIssuedAt !== false,
      revocations: this.revocations,
    };
  }
}
