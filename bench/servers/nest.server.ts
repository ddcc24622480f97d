import 'reflect-metadata';
import { Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { WebSocketServer as WsServer } from 'ws';
import { Roles, WsAuthAdapter, WsAuthModule, WsRevocations, WsRolesGuard, WsUser, type WsAuthJwtOptions, type WsJwtAlgorithm } from '../../lib/index.js';
import { serveBenchmark } from './server-process.js';

export const BENCH_SECRET = 'benchmark-secret-0123456789-0123456789-0123';

// BENCH_SERVER: `plain` is Nest's own WsAdapter with no authentication; `auth` is WsAuthAdapter
// verifying an HS256 JWT; `auth-custom` is WsAuthAdapter with an authenticator that does no
// cryptography, which separates the adapter's own cost from the JWT's; `auth-rs256` verifies
// RS256 against the PEM in BENCH_PUBLIC_KEY, `auth-jwks` against the JWKS at BENCH_JWKS_URI
// (both with the issuer and audience in BENCH_ISSUER and BENCH_AUDIENCE, so both check as much).
// BENCH_GUARDS: `on` puts WsAuthGuard + WsRolesGuard + @WsUser on the handler.
const kind = process.env.BENCH_SERVER ?? 'auth';
const guarded = process.env.BENCH_GUARDS === 'on';
// BENCH_REVOCATIONS: this many live revocations (half by jti, half by subject, none of them the
// benchmark token's), loaded before the load starts.
const revocations = Number(process.env.BENCH_REVOCATIONS ?? 0);
// BENCH_METRICS: `on` registers the OpenTelemetry SDK as the sample does (a MeterProvider whose
// one reader, a Prometheus exporter with no server, is collected only once, after the run, by
// `info`), so the library's instruments record for real.
const metricsReader = process.env.BENCH_METRICS === 'on' ? registerMetrics() : undefined;

@WebSocketGateway({ path: '/bench' })
class PlainGateway {
  @WebSocketServer() server!: WsServer;

  @SubscribeMessage('ping')
  ping() {
    return { event: 'ping', data: 'pong' };
  }
}

@WebSocketGateway({ path: '/bench' })
@UseGuards(WsRolesGuard)
class GuardedGateway {
  @WebSocketServer() server!: WsServer;

  @Roles('user')
  @SubscribeMessage('ping')
  ping(@WsUser('username') username: string) {
    return { event: 'ping', data: username ? 'pong' : 'nobody' };
  }
}

function benchModule(): DynamicModule {
  @Module({})
  class BenchModule {}
  const gateway = guarded ? GuardedGateway : PlainGateway;
  if (kind === 'plain') return { module: BenchModule, providers: [gateway] };
  if (kind === 'auth-custom') {
    const identity = { user: { username: 'bench' }, subject: '1', roles: ['user'], expiresAt: Date.now() + 3_600_000 };
    return { module: BenchModule, imports: [WsAuthModule.forRoot({ authenticate: () => identity, expiryWarningMs: 0 })], providers: [gateway] };
  }
  // expiryWarningMs 0: the benchmark token outlives the run, so the timer is one per socket.
  return { module: BenchModule, imports: [WsAuthModule.forRoot({ jwt: jwtOptions(), expiryWarningMs: 0 })], providers: [gateway] };
}

function jwtOptions(): WsAuthJwtOptions {
  const claims = { issuer: process.env.BENCH_ISSUER, audience: process.env.BENCH_AUDIENCE, algorithms: ['RS256'] as WsJwtAlgorithm[] };
  if (kind === 'auth-rs256') return { publicKey: process.env.BENCH_PUBLIC_KEY, ...claims };
  if (kind === 'auth-jwks') return { jwksUri: process.env.BENCH_JWKS_URI, ...claims };
  return { secret: BENCH_SECRET };
}

const app = await NestFactory.create(benchModule(), { logger: ['error'] });
app.useWebSocketAdapter(kind === 'plain' ? new WsAdapter(app) : new WsAuthAdapter(app));
await app.listen(0, '127.0.0.1');
const address = app.getHttpServer().address();
const gateway = app.get(guarded ? GuardedGateway : PlainGateway);
const held = await revokeMany(revocations);
serveBenchmark(
  typeof address === 'object' ? address.port : 0,
  () => app.close(),
  () => gateway.server.clients.size,
  async () => ({ ...held, ...(metricsReader ? { upgradeAttempts: await upgradeAttempts(metricsReader) } : {}) }),
);

function registerMetrics(): PrometheusExporter {
  const reader = new PrometheusExporter({ preventServerStart: true });
  if (!metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))) throw new Error('a global MeterProvider was already registered');
  return reader;
}

/** The one collection: `ws_auth.upgrade.attempts` summed over its attributes, proof the instruments recorded. */
async function upgradeAttempts(reader: PrometheusExporter): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== 'ws_auth.upgrade.attempts') continue;
      for (const point of metric.dataPoints) total += typeof point.value === 'number' ? point.value : 0;
    }
  }
  return total;
}

/** Loads `count` revocations and measures the heap they hold (after forced collections). */
async function revokeMany(count: number): Promise<Record<string, unknown>> {
  if (count === 0) return {};
  const heap = () => {
    for (let i = 0; i < 3; i++) global.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const service = app.get(WsRevocations);
  const before = heap();
  for (let i = 0; i < count; i++) {
    await (i % 2 ? service.revoke({ jti: `bench-revoked-${i}`, expiresAt: Date.now() + 3_600_000 }) : service.revoke({ subject: `bench-banned-${i}` }));
  }
  return { revocations: service.list().length, heapBytes: heap() - before };
}
