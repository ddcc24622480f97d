export { WsAuthModule } from './ws-auth.module.js';
export { WsAuthConfig } from './ws-auth.config.js';
export { WS_AUTH_OPTIONS } from './ws-auth.constants.js';
export type {
  WsAuthenticated,
  WsAuthenticateFn,
  WsAuthGatewayMetadata,
  WsAuthGatewayOptions,
  WsAuthJwtOptions,
  WsJwksOptions,
  WsAuthModuleAsyncOptions,
  WsAuthOptionsFactory,
  WsCertificateValidateFn,
  WsClientCertificateOptions,
  WsAuthOptions,
  WsCredentialSource,
  WsJwtAlgorithm,
  WsJwtClaims,
  WsRevocationOptions,
  WsTicketOptions,
  WsValidateFn,
  WsVerdict,
} from './ws-auth-options.interface.js';
export { WsAuthAdapter, type WsAuthAdapterOptions, type WsAuthMessageParser } from './adapter/ws-auth.adapter.js';
export type { WsIdentity } from './identity/ws-identity.js';
export { getWsIdentity, getWsUser } from './identity/identity-store.js';
export { WsUser } from './identity/ws-user.decorator.js';
export { WsAuthGuard } from './guards/ws-auth.guard.js';
export { WsRolesGuard } from './guards/ws-roles.guard.js';
export { Roles } from './guards/roles.decorator.js';
export { UseConnectionGuards, type WsConnectionGuard } from './authorization/use-connection-guards.decorator.js';
export { getWsConnectionAttempt, type WsConnectionAttempt } from './authorization/connection-context.js';
export { WsRefusal, type WsRefusalReason } from './refusals/ws-refusal.js';
export { WsAuthException } from './refusals/ws-auth.exception.js';
export { WsTicketService } from './tickets/ws-ticket.service.js';
export type { IssuedTicket } from './tickets/ticket-book.js';
export { WsTicketStore, type WsTicketOwner } from './tickets/ws-ticket-store.js';
export { MemoryTicketStore } from './tickets/memory-ticket-store.js';
export { RedisTicketStore, type RedisTicketClient, type RedisTicketStoreOptions } from './tickets/redis-ticket-store.js';
export { WsConnections, type WsConnection } from './connections/ws-connections.service.js';
export {
  LocalConnectionBus,
  WsConnectionBus,
  type WsDisconnectCommand,
  type WsDisconnectListener,
  type WsDisconnectReason,
  type WsRevalidateCommand,
  type WsRevalidateListener,
} from './connections/ws-connection-bus.js';
export { WsRevocations } from './revocations/ws-revocations.service.js';
export {
  LocalRevocationStore,
  WsRevocationStore,
  type WsRevocation,
  type WsRevocationSink,
  type WsRevocationTarget,
} from './revocations/ws-revocation-store.js';
export { RedisRevocationStore, type RedisRevocationStoreOptions } from './revocations/redis-revocation-store.js';
export { RedisConnectionBus, type RedisConnectionBusOptions } from './connections/redis-connection-bus.js';
export { WsAuthEvents } from './telemetry/ws-auth-events.service.js';
export type {
  WsAuthEvent,
  WsConnectionAcceptedEvent,
  WsConnectionClosedEvent,
  WsConnectionRefreshedEvent,
  WsConnectionRefusedEvent,
  WsCredentialRevokedEvent,
} from './telemetry/ws-auth-event.js';
export { WsTopics, type WsTopicJoin } from './topics/ws-topics.service.js';
export { LocalTopicBus, WsTopicBus, type WsTopicListener, type WsTopicMessage } from './topics/ws-topic-bus.js';
export { RedisTopicBus, type RedisTopicBusOptions } from './topics/redis-topic-bus.js';
export type { WsTopicPolicy, WsTopicsOptions, WsTopicTokenOptions } from './topics/ws-topics-options.js';
export { TOPIC_TOKEN_TYPE } from './jwt/token-types.js';
