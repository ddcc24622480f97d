import 'reflect-metadata';
import { Module, UseGuards, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { WebSocketServer as WsServer } from 'ws';
import { Roles, WsAuthAdapter, WsAuthModule, WsRevocations, WsRolesGuard, WsUser } from '../../lib/index.js';
import { serveBenchmark } from './server-process.js';

export const BENCH_SECRET = 'benchmark-secret-0123456789-0123456789-0123';

// BENCH_SERVER: `plain` is Nest's own WsAdapter with no authentication; `auth` is WsAuthAdapter
// verifying an HS256 JWT; `auth-custom` is WsAuthAdapter with an authenticator that does no
// cryptography, which separates the adapter's own cost from the JWT's.
// BENCH_GUARDS: `on` puts WsAuthGuard + WsRolesGuard + @WsUser on the handler.
const kind = process.env.BENCH_SERVER ?? 'auth';
const guarded = process.env.BENCH_GUARDS === 'on';
// BENCH_REVOCATIONS: this many live revocations (half by jti, half by subject, none of them the
// benchmark token's), loaded before the load starts.
const revocations = Number(process.env.BENCH_REVOCATIONS ?? 0);

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
  return { module: BenchModule, imports: [WsAuthModule.forRoot({ jwt: { secret: BENCH_SECRET }, expiryWarningMs: 0 })], providers: [gateway] };
}

const app = await NestFactory.create(benchModule(), { logger: ['error'] });
app.useWebSocketAdapter(kind === 'plain' ? new WsAdapter(app) : new WsAuthAdapter(app));
await app.listen(0, '127.0.0.1');
const address = app.getHttpServer().address();
const gateway = app.get(guarded ? GuardedGateway : PlainGateway);
serveBenchmark(
  typeof address === 'object' ? address.port : 0,
  () => app.close(),
  () => gateway.server.clients.size,
  await revokeMany(revocations),
);

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
