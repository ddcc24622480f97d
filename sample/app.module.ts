import { Module, type DynamicModule } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule } from '@nestjs/throttler';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RedisConnectionBus, RedisRevocationStore, RedisTicketStore, WsAuthModule, type WsAuthOptions } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AuthController } from './auth.controller.js';
import { authThrottling } from './auth-throttling.js';
import { DemoController } from './demo/demo.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { LiveGateway } from './live.gateway.js';
import { MetricsController } from './metrics.controller.js';
import { RedisRefreshTokenStore } from './redis-refresh-token-store.js';
import { RefreshSessions } from './refresh-sessions.js';
import { MemoryRefreshTokenStore, RefreshTokenStore } from './refresh-token-store.js';
import type { SampleConfig } from './sample.config.js';
import { SAMPLE_CONFIG } from './sample.tokens.js';
import { UsersService, type SampleUser } from './users.service.js';

@Module({ providers: [UsersService], exports: [UsersService] })
class UsersModule {}

@Module({})
export class AppModule {
  /** `metrics`: the reader of the global MeterProvider (sampleMetrics()), served on GET /metrics. */
  static register(config: SampleConfig, metrics: PrometheusExporter): DynamicModule {
    return {
      module: AppModule,
      imports: [
        UsersModule,
        JwtModule.register({ secret: config.jwtSecret }),
        ThrottlerModule.forRoot(authThrottling(config)),
        WsAuthModule.forRootAsync({
          imports: [UsersModule],
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
                  validate: (claims) => users.findById(claims.sub),
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
          }),
        }),
      ],
      controllers: [AuthController, DemoController, MetricsController],
      providers: [
        ChatGateway,
        LiveGateway,
        RefreshSessions,
        { provide: SAMPLE_CONFIG, useValue: config },
        { provide: PrometheusExporter, useValue: metrics },
        // With Redis, a session's refresh works on any instance, and a reused token ends it on all.
        { provide: RefreshTokenStore, useFactory: () => (config.redisUrl ? new RedisRefreshTokenStore(config.redisUrl) : new MemoryRefreshTokenStore()) },
      ],
    };
  }
}
