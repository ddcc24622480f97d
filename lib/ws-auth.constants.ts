/** Injection token of the options given to `WsAuthModule.forRoot()` / `forRootAsync()`. */
export const WS_AUTH_OPTIONS = Symbol('WS_AUTH_OPTIONS');

/** Metadata key of `@Roles()`. */
export const WS_ROLES_KEY = 'nestjs-ws-auth:roles';

export const DEFAULT_CREDENTIAL_SOURCES = ['ticket', 'header', 'subprotocol', 'cookie'] as const;
export const DEFAULT_CREDENTIAL_NAME = 'access_token';
export const DEFAULT_ROLES_CLAIM = 'roles';
export const DEFAULT_VERIFY_TIMEOUT_MS = 5000;
export const DEFAULT_TICKET_TTL_SECONDS = 30;
export const DEFAULT_AUTH_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_PRE_AUTH_BYTES = 16 * 1024;
export const DEFAULT_MAX_PENDING_AUTHENTICATIONS = 1000;
export const DEFAULT_EXPIRY_WARNING_MS = 60_000;
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 32;
export const DEFAULT_CLOSE_GRACE_MS = 1000;
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86_400;
export const DEFAULT_TICKETS_PER_SUBJECT = 10;
export const DEFAULT_MAX_TOPICS_PER_CONNECTION = 100;
export const DEFAULT_MAX_TOPIC_BUFFERED_BYTES = 1024 * 1024;
