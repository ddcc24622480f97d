import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FactoryProvider, ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { WsTicketStore } from './tickets/ws-ticket-store.js';
import type { WsConnectionBus } from './connections/ws-connection-bus.js';
import type { WsRevocationStore } from './revocations/ws-revocation-store.js';
import type { WsTopicsOptions } from './topics/ws-topics-options.js';

/**
 * Where a credential may be read from during the upgrade, in the order given. `certificate`
 * counts as present only when there is a client certificate to trust (see `clientCertificate`).
 */
export type WsCredentialSource = 'ticket' | 'header' | 'subprotocol' | 'cookie' | 'query' | 'certificate';

/** Verified JWT claims. Values are untrusted input until `validate()` has looked at them. */
export type WsJwtClaims = Record<string, unknown> & {
  sub?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
};

/** JWS algorithms; `none` is deliberately absent. `EdDSA` only with `jwksUri`. */
export type WsJwtAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

export interface WsAuthJwtOptions {
  /** Shared secret for HS256/384/512. Exclusive with `publicKey` and `jwksUri`. */
  secret?: string | Buffer;
  /** PEM public key (RSA, or EC on P-256/384/521). Exclusive with `secret` and `jwksUri`. */
  publicKey?: string | Buffer;
  /**
   * The identity provider's JSON Web Key Set (Keycloak, Auth0, Cognito, Entra...), for keys
   * that rotate. Needs the optional dependency `jose`. Exclusive with `secret` and `publicKey`.
   */
  jwksUri?: string;
  /** Caching and fetching of `jwksUri`. */
  jwks?: WsJwksOptions;
  /**
   * Pinned algorithms. Default: HS256 for a secret; RS256, PS256 or the curve's ES* for a
   * public key; RS256 for a JWKS (RS*, PS*, ES* and EdDSA can be listed).
   */
  algorithms?: WsJwtAlgorithm[];
  issuer?: string | [string, ...string[]];
  /** Strings or patterns; with `jwksUri`, strings only. */
  audience?: string | RegExp | [string | RegExp, ...(string | RegExp)[]];
  /** Seconds of clock skew tolerated on `exp` and `nbf`. Default 0. */
  clockToleranceSeconds?: number;
  /** Refuse tokens without `exp`. Default true: a token that never expires is a standing key. */
  requireExpiration?: boolean;
  /** Refuse longer tokens before any parsing. Default 8192 characters. */
  maxTokenLength?: number;
}

export interface WsJwksOptions {
  /** How long a fetched key set is used before it is fetched again. Default 600000 (10 min). */
  cacheMaxAgeMs?: number;
  /**
   * After a fetch, a token with an unknown `kid` is refused without fetching again for this
   * long, so made-up `kid`s cannot turn into a fetch storm. Default 30000.
   */
  cooldownMs?: number;
  /** A fetch that takes longer fails (503). Default 5000. */
  timeoutMs?: number;
}

/**
 * What `validate()` may return for a verified token. Any falsy value (`null`, `undefined`,
 * `false`, `0`, `''`) refuses with 401, so a user can never be a falsy value.
 * Throw `WsRefusal('forbidden')` or Nest's `ForbiddenException` to refuse with 403.
 */
export type WsValidateFn<User = unknown> = (claims: WsJwtClaims, request: IncomingMessage) => WsVerdict<User> | Promise<WsVerdict<User>>;

/** A user, or a falsy value that refuses. */
export type WsVerdict<T> = T | false | 0 | '' | null | undefined;

/** The result of a custom authenticator. */
export interface WsAuthenticated<User = unknown> {
  user: User;
  subject?: string;
  roles?: readonly string[];
  claims?: Record<string, unknown>;
  /**
   * Epoch milliseconds after which the identity is no longer valid; a finite number, or the
   * connection is refused (500: an app bug must not yield an identity that never expires).
   */
  expiresAt?: number;
}

/**
 * Escape hatch that replaces credential extraction and JWT verification entirely
 * (API keys, server sessions...). Return any falsy value (or a falsy `user`) to refuse with 401.
 */
export type WsAuthenticateFn<User = unknown> = (request: IncomingMessage) => WsVerdict<WsAuthenticated<User>> | Promise<WsVerdict<WsAuthenticated<User>>>;

/**
 * Maps a trusted client certificate to the app's user. Return any falsy value to refuse with 401;
 * throw `WsRefusal('forbidden')` or Nest's `ForbiddenException` for 403. The identity
 * expires with the certificate unless `expiresAt` says otherwise.
 */
export type WsCertificateValidateFn<User = unknown> = (
  certificate: X509Certificate,
  request: IncomingMessage,
) => WsVerdict<WsAuthenticated<User>> | Promise<WsVerdict<WsAuthenticated<User>>>;

/** Mutual TLS: the `certificate` credential source. */
export interface WsClientCertificateOptions<User = unknown> {
  validate: WsCertificateValidateFn<User>;
  /**
   * Behind a TLS-terminating proxy: the header it forwards the client certificate in, once it
   * has verified it (URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`, or base64 DER).
   * The proxy must also remove that header from what clients send.
   */
  proxyHeader?: string;
  /** Addresses or CIDR ranges whose `proxyHeader` is believed. Required with `proxyHeader`. */
  trustedProxies?: string[];
  /** When set, a forwarded certificate must also be issued by one of these CAs (PEM). */
  proxyCa?: string | Buffer | Array<string | Buffer>;
}

export interface WsAuthOptions<User = unknown> {
  jwt?: WsAuthJwtOptions;
  /** Turns verified claims into the app's user. Default: the claims themselves. */
  validate?: WsValidateFn<User>;
  /** Replaces credentials + JWT with the app's own scheme. */
  authenticate?: WsAuthenticateFn<User>;
  /**
   * Client certificates (mutual TLS), read by the `certificate` credential source. With it
   * set, the default `credentials` start with 'certificate'.
   */
  clientCertificate?: WsClientCertificateOptions<User>;
  /**
   * Default: ['ticket', 'header', 'subprotocol', 'cookie']. 'query' is opt-in: URLs end up in
   * logs. 'ticket' reads `?ticket=`, a single-use ticket from `WsTicketService`.
   */
  credentials?: WsCredentialSource[];
  /** Default 'access_token'. */
  cookieName?: string;
  /** Default 'access_token'. Only read when 'query' is among `credentials`. */
  queryParam?: string;
  /**
   * Exact origins (scheme://host[:port]) allowed to open sockets. When unset, a request that
   * carries Origin must match its own Host. Requests without Origin (non-browsers) pass.
   */
  allowedOrigins?: string[];
  /** Dotted path to the roles claim: 'roles', 'realm_access.roles', or 'scope' (space-separated). */
  rolesClaim?: string;
  // Method syntax: a parameter of type User must not make WsAuthOptions<User> unassignable to
  // WsAuthOptions<unknown>, which forRoot() and the builder take.
  /**
   * The connection's roles from the user validate() returned, instead of the token's rolesClaim:
   * roles then follow the user store, so a re-check (WsConnections.revalidate) or a refresh
   * picks up a role change.
   */
  rolesOf?(user: User, claims: WsJwtClaims): readonly string[];
  /** Deadline for credential verification and `validate()`. Default 5000 ms; 503 when it passes. */
  verifyTimeoutMs?: number;
  tickets?: WsTicketOptions;
  /**
   * `handshake` (default): credentials are checked during the upgrade. `in-band`: the upgrade
   * checks Host and Origin only, and the client must send
   * `{"event":"authenticate","data":{"token":"<jwt>"}}` within `authTimeoutMs` (close 4408).
   */
  mode?: 'handshake' | 'in-band';
  /** In-band: time allowed to authenticate. Default 5000 ms. */
  authTimeoutMs?: number;
  /** In-band: largest frame accepted before authentication. Default 16 KiB (close 1009). */
  maxPreAuthBytes?: number;
  /** In-band: sockets allowed to wait for authentication at once; more get 503. Default 1000. */
  maxPendingAuthentications?: number;
  /**
   * In-band: sockets one remote address may hold waiting for authentication at once; more get
   * 429, so one client cannot use up `maxPendingAuthentications` for everyone. Default 32.
   */
  maxPendingAuthenticationsPerAddress?: number;
  /**
   * Largest message (bytes) a connection may send once authenticated; a larger one closes it
   * with 1009. Default 1 MiB (`ws` alone allows 100 MiB). A gateway's own `maxPayload` wins.
   */
  maxPayload?: number;
  /**
   * After a connection is closed for an auth reason (expired, revoked, refused refresh), the
   * peer has this long to complete the close handshake before the socket is destroyed. No
   * frame reaches a handler in the meantime. Default 1000 ms.
   */
  closeGraceMs?: number;
  /** `token_expiring` is sent this long before `exp`; 0 disables it. Default 60000 ms. */
  expiryWarningMs?: number;
  /** Carries `WsConnections.disconnect()` to every instance. Default: this process only. */
  connectionBus?: WsConnectionBus;
  /** Revocation of credentials by subject or token id (`WsRevocations`). */
  revocation?: WsRevocationOptions;
  /**
   * Re-check every open connection this often (validate() again on its claims); 0 or unset:
   * never. Batched and spread over the interval.
   */
  revalidateIntervalMs?: number;
  /**
   * Topics for native `ws` gateways (`WsTopics`): who may join which, topic tokens, the bus
   * that reaches other instances. Without it every join is refused.
   */
  topics?: WsTopicsOptions;
}

export interface WsRevocationOptions {
  /** Default: this process only. `RedisRevocationStore` for several instances. */
  store?: WsRevocationStore;
  /**
   * The longest a credential may live, in seconds. A revocation by subject is kept this long
   * (then no credential it covers can still be valid), and a token whose `exp` is further away
   * than this is refused. Default 86400 (24 h).
   */
  maxTokenLifetimeSeconds?: number;
  /**
   * Refuse tokens without `iat` (401). Default true: a token's age is what a revocation by
   * subject compares, and without it a token minted before a ban could outwait the ban.
   */
  requireIssuedAt?: boolean;
}

export interface WsTicketOptions {
  /** Ticket lifetime; never longer than the access token it was issued from. Default 30. */
  ttlSeconds?: number;
  /** Default: a bounded in-memory store. `RedisTicketStore` for several instances. */
  store?: WsTicketStore;
  /** Bound of the default in-memory store. Default 10,000. */
  maxEntries?: number;
  /**
   * Unredeemed tickets one subject may hold; issuing one more drops that subject's oldest, so
   * one user minting in bulk never fills the store for others. Default 10.
   */
  maxPerSubject?: number;
}

/** Per-gateway overrides, given as `wsAuth` in `@WebSocketGateway()` options. */
export type WsAuthGatewayOptions<User = unknown> = Partial<
  Pick<
    WsAuthOptions<User>,
    | 'validate'
    | 'authenticate'
    | 'credentials'
    | 'cookieName'
    | 'queryParam'
    | 'allowedOrigins'
    | 'rolesClaim'
    | 'rolesOf'
    | 'verifyTimeoutMs'
    | 'mode'
    | 'authTimeoutMs'
    | 'maxPreAuthBytes'
    | 'expiryWarningMs'
    | 'maxPayload'
    | 'closeGraceMs'
  >
>;

/** Use as `@WebSocketGateway<WsAuthGatewayMetadata>({ path, wsAuth: {...} })` for type checking. */
export interface WsAuthGatewayMetadata {
  path?: string;
  wsAuth?: WsAuthGatewayOptions;
  [option: string]: unknown;
}

/** A class given to `forRootAsync({ useClass })` or `forRootAsync({ useExisting })`. */
export interface WsAuthOptionsFactory<User = unknown> {
  createWsAuthOptions(): WsAuthOptions<User> | Promise<WsAuthOptions<User>>;
}

/** `WsAuthModule.forRootAsync()`: exactly one of `useFactory`, `useClass` or `useExisting`. */
export interface WsAuthModuleAsyncOptions<User = unknown> extends Pick<ModuleMetadata, 'imports'> {
  /** Registers the module's services in every module; without it, only the importing module sees them. */
  isGlobal?: boolean;
  useFactory?: (...args: any[]) => WsAuthOptions<User> | Promise<WsAuthOptions<User>>;
  /** What `useFactory` receives, in order; from `imports` or global modules. */
  inject?: FactoryProvider['inject'];
  /** Instantiated inside WsAuthModule (its own dependencies must be reachable from `imports`). */
  useClass?: Type<WsAuthOptionsFactory<User>>;
  /** An options factory provided elsewhere (an imported or global module): reused, not re-created. */
  useExisting?: Type<WsAuthOptionsFactory<User>>;
  /** More providers inside WsAuthModule, for `inject` or `useClass` to depend on. Not exported. */
  extraProviders?: Provider[];
}
