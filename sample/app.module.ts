import { Module, type DynamicModule } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule } from '@nestjs/throttler';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RedisConnectionBus, RedisRevocationStore, RedisTicketStore, RedisTopicBus, WsAuthModule, type WsAuthOptions } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AdminActions } from './admin-actions.js';
import { AdminGateway } from './admin.gateway.js';
import { AuthController } from './auth.controller.js';
import { authThrottling } from './auth-throttling.js';
import { DemoController } from './demo/demo.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { LiveGateway } from './live.gateway.js';
import { MetricsController } from './metrics.controller.js';
import { RedisRefreshTokenStore } from './redis-refresh-token-store.js';
import { RefreshSessions } from './refresh-sessions.js';
import { MemoryRefreshTokenStore, RefreshTokenStore } from './refresh-token-store.js';
import { SAMPLE_DEFAULTS, type SampleConfig } from './sample.config.js';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import { SAMPLE_TOPIC_POLICIES } from './sample-topics.js';
import { TopicTokenController } from './topic-token.controller.js';
import { MemoryUserRoleStore, RedisUserRoleStore, UserRoleStore } from './user-roles.js';
import { UsersService, type SampleUser } from './users.service.js';

@Module({})
class UsersModule {
  // With Redis, a role an admin sets on one instance is what every instance re-checks with.
  static register(config: SampleConfig): DynamicModule {
    return {
      module: UsersModule,
      providers: [
        UsersService,
        { provide: UserRoleStore, useFactory: () => (config.redisUrl ? new RedisUserRoleStore(config.redisUrl) : new MemoryUserRoleStore()) },
      ],
      exports: [UsersService],
    };
  }
}

@Module({})
export class AppModule {
  /** `metrics`: the reader of the global MeterProvider (sampleMetrics()), served on GET /metrics. */
  static register(config: SampleConfig, metrics: PrometheusExporter): DynamicModule {
    // One module object, imported twice: one user store for the app and for validate().
    const usersModule = UsersModule.register(config);
    return {
      module: AppModule,
      imports: [
        usersModule,
        JwtModule.register({ secret: config.jwtSecret }),
        ThrottlerModule.forRoot(authThrottling(config)),
        WsAuthModule.forRootAsync({
          imports: [usersModule],
          inject: [UsersService],
          useFactory: (users: UsersService): WsAuthOptions<SampleUser> => ({
            ...(config.jwksUrl
              ? {
                  // The identity provider's keys, fetched and rotated; its claims name the user.
                  jwt: { jwksUri: config.jwksUrl, algorithms: ['RS256', 'ES256', 'EdDSA'], issuer: config.jwksIssuer, audience: config.jwksAudience },
                  validate: (claims) => users.fromIdentityProvider(claims),
                }
              : {
                  jwt: { secret: config.jwtSecret },
                  // A correctly signed token for a user that no longer exists is refused (401).
                  validate: (claims) => users.current(claims.sub),
                  // Roles from the user store, not the token: an admin's role change applies at
                  // the next re-check (admin:set-roles, WS_REVALIDATE_MS) without a new login.
                  rolesOf: (user) => user.roles,
                }),
            // Client certificates from TLS_CA's issuer: the certificate's CN names the user.
            clientCertificate: config.tls?.ca ? { validate: (certificate) => users.fromCertificate(certificate) } : undefined,
            allowedOrigins: [`${config.tls ? 'https' : 'http'}://${config.host}:${config.port}`],
            authTimeoutMs: config.authTimeoutMs,
            expiryWarningMs: config.expiryWarningMs,
            // With Redis, a ticket, a kick or a revocation issued on one instance reaches all of them.
            tickets: config.redisUrl ? { store: new RedisTicketStore({ url: config.redisUrl }) } : undefined,
            connectionBus: config.redisUrl ? new RedisConnectionBus({ url: config.redisUrl }) : undefined,
            revocation: config.redisUrl ? { store: new RedisRevocationStore({ url: config.redisUrl }) } : undefined,
            // room:general, room:admins, doc:<id> (sample-topics.ts); with Redis, a message said
            // on one instance reaches the members on all of them.
            topics: {
              policies: SAMPLE_TOPIC_POLICIES,
              bus: config.redisUrl ? new RedisTopicBus({ url: config.redisUrl }) : undefined,
            },
            revalidateIntervalMs: config.revalidateMs ?? SAMPLE_DEFAULTS.revalidateMs,
          }),
        }),
      ],
      controllers: [AuthController, TopicTokenController, DemoController, MetricsController],
      providers: [
        ChatGateway,
        LiveGateway,
        AdminGateway,
        AdminActions,
        RefreshSessions,
        { provide: SAMPLE_CONFIG, useValue: config },
        { provide: PrometheusExporter, useValue: metrics },
        // With Redis, a session's refresh works on any instance, and a reused token ends it on all.
        { provide: RefreshTokenStore, useFactory: () => (config.redisUrl ? new RedisRefreshTokenStore(config.redisUrl) : new MemoryRefreshTokenStore()) },
      ],
    };
  }
}
