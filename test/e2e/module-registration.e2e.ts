import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Injectable, Module, type DynamicModule, type INestApplication, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  WS_AUTH_OPTIONS,
  WsAuthAdapter,
  WsAuthModule,
  WsConnections,
  WsRevocations,
  WsTicketService,
  type WsAuthOptions,
  type WsAuthOptionsFactory,
} from '../../lib/index.js';
import { makeGateway } from '../support/fixtures.js';
import { LogCapture } from '../support/log-capture.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { closed, openSocket, request } from '../support/ws-client.js';

// A secret only the stand-in configuration knows: a socket that opens with it proves the
// options came from the factory, not from a default or another registration.
const CONFIGURED_SECRET = `${TEST_SECRET}-from-settings`;
const OTHER_SECRET = `${TEST_SECRET}-someone-else`;

/** Stands in for @nestjs/config's ConfigService, which this repository does not install. */
@Injectable()
class Settings {
  private readonly values: Record<string, string> = { JWT_SECRET: CONFIGURED_SECRET };

  getOrThrow(key: string): string {
    const value = this.values[key];
    if (value === undefined) throw new Error(`missing setting ${key}`);
    return value;
  }
}

@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

/** An app service that `validate` needs: the reason forRoot users move to forRootAsync. */
@Injectable()
class Users {
  private readonly known = new Map([['1', { id: '1', username: 'alice' }]]);

  findById(id: unknown) {
    return typeof id === 'string' ? this.known.get(id) : undefined;
  }
}

@Module({ providers: [Users], exports: [Users] })
class UsersModule {}

/** A `useClass` / `useExisting` options factory, as an app would write one. */
@Injectable()
class WsAuthSettings implements WsAuthOptionsFactory {
  static created = 0;
  static calls = 0;

  constructor(private readonly settings: Settings) {
    WsAuthSettings.created += 1;
  }

  createWsAuthOptions(): WsAuthOptions {
    WsAuthSettings.calls += 1;
    return { jwt: { secret: this.settings.getOrThrow('JWT_SECRET') } };
  }
}

/** Provides and exports the factory, for `useExisting`. */
@Module({ imports: [SettingsModule], providers: [WsAuthSettings], exports: [WsAuthSettings] })
class WsAuthSettingsModule {}

function rootModule(imports: Array<DynamicModule | (new () => unknown)>, providers: Provider[] = [makeGateway('Chat', 0, { path: '/chat' })]): DynamicModule {
  @Module({})
  class RootModule {}
  return { module: RootModule, imports, providers };
}

/** A valid token opens the socket and reaches a handler; a token signed with another key gets 401. */
async function assertAuthenticates(app: TestApp, secret: string, path = '/chat') {
  const outcome = await openSocket(app.url(path), { headers: { Authorization: `Bearer ${signToken({}, {}, secret)}` } });
  assert.equal(outcome.kind, 'open', `a valid token must open the socket, got ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'open') return;
  try {
    assert.equal((await request(outcome.socket, 'whoami')).data.username, 'alice');
  } finally {
    outcome.socket.close();
  }
  const forged = await openSocket(app.url(path), { headers: { Authorization: `Bearer ${signToken({}, {}, OTHER_SECRET)}` } });
  assert.equal(forged.kind === 'refused' && forged.status, 401, JSON.stringify(forged));
}

/** Boots like main.ts and returns what stopped it, closing whatever had started. */
async function startupError(module: DynamicModule): Promise<Error> {
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(module, { logger: new LogCapture(), abortOnError: false });
    app.useWebSocketAdapter(new WsAuthAdapter(app));
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app?.close();
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  await app.close();
  assert.fail('the app started');
}

/** Injects the module's services without importing WsAuthModule: only a global registration can satisfy it. */
@Injectable()
class Moderation {
  constructor(
    readonly connections: WsConnections,
    readonly tickets: WsTicketService,
    readonly revocations: WsRevocations,
  ) {}
}

function moderationModule(): DynamicModule {
  @Module({})
  class ModerationModule {}
  return { module: ModerationModule, providers: [Moderation, makeGateway('ModeratedChat', 0, { path: '/moderated' })] };
}

/** The feature module's services work on the root registration's sockets: ticket in, count, revoke out. */
async function assertModerationWorks(app: TestApp) {
  const moderation = app.app.get(Moderation, { strict: false });
  const { ticket } = await moderation.tickets.issue({
    user: { username: 'dave' },
    subject: 'dave',
    roles: [],
    claims: { sub: 'dave' },
    expiresAt: Date.now() + 60_000,
    source: 'custom',
  });
  const outcome = await openSocket(app.url(`/moderated?ticket=${ticket}`));
  assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
  if (outcome.kind !== 'open') return;
  assert.equal((await request(outcome.socket, 'whoami')).data.username, 'dave');
  assert.equal(moderation.connections.count('dave'), 1);
  const closing = closed(outcome.socket);
  assert.equal(await moderation.revocations.revoke({ subject: 'dave' }), 1);
  assert.equal((await closing).code, 4403);
}

describe('registering WsAuthModule', () => {
  const apps: TestApp[] = [];
  after(() => Promise.all(apps.map((app) => app.close())));
  const start = async (module: DynamicModule) => {
    const app = await startTestApp(module);
    apps.push(app);
    return app;
  };

  it('forRoot: the options are the WS_AUTH_OPTIONS value, without isGlobal', async () => {
    const app = await start(rootModule([WsAuthModule.forRoot({ jwt: { secret: CONFIGURED_SECRET }, isGlobal: false })]));
    await assertAuthenticates(app, CONFIGURED_SECRET);
    assert.deepEqual(app.app.get(WS_AUTH_OPTIONS, { strict: false }), { jwt: { secret: CONFIGURED_SECRET } });
  });

  it('forRootAsync with useFactory: inject reaches providers of imported modules, and validate can use them', async () => {
    const app = await start(
      rootModule([
        WsAuthModule.forRootAsync({
          imports: [SettingsModule, UsersModule],
          inject: [Settings, Users],
          useFactory: async (settings: Settings, users: Users) => ({
            jwt: { secret: settings.getOrThrow('JWT_SECRET') },
            validate: (claims) => users.findById(claims.sub),
          }),
        }),
      ]),
    );
    await assertAuthenticates(app, CONFIGURED_SECRET);
    const stranger = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub: '2' }, {}, CONFIGURED_SECRET)}` } });
    assert.equal(stranger.kind === 'refused' && stranger.status, 401, 'validate ran with the injected Users');
    assert.equal(app.app.get<WsAuthOptions>(WS_AUTH_OPTIONS, { strict: false }).jwt?.secret, CONFIGURED_SECRET);
  });

  it('forRootAsync with useClass: the factory is created inside WsAuthModule, its dependencies from imports', async () => {
    WsAuthSettings.created = WsAuthSettings.calls = 0;
    const app = await start(rootModule([WsAuthModule.forRootAsync({ imports: [SettingsModule], useClass: WsAuthSettings })]));
    await assertAuthenticates(app, CONFIGURED_SECRET);
    assert.deepEqual([WsAuthSettings.created, WsAuthSettings.calls], [1, 1]);
  });

  it('forRootAsync with useExisting: reuses the factory an imported module provides', async () => {
    WsAuthSettings.created = WsAuthSettings.calls = 0;
    const app = await start(rootModule([WsAuthModule.forRootAsync({ imports: [WsAuthSettingsModule], useExisting: WsAuthSettings })]));
    await assertAuthenticates(app, CONFIGURED_SECRET);
    assert.deepEqual([WsAuthSettings.created, WsAuthSettings.calls], [1, 1], 'not created a second time');
  });

  it('forRootAsync with extraProviders: they can be injected by the factory and by useClass', async () => {
    const SECRET = Symbol('SECRET');
    const viaFactory = await start(
      rootModule([
        WsAuthModule.forRootAsync({
          extraProviders: [{ provide: SECRET, useValue: CONFIGURED_SECRET }],
          inject: [SECRET],
          useFactory: (secret: string) => ({ jwt: { secret } }),
        }),
      ]),
    );
    await assertAuthenticates(viaFactory, CONFIGURED_SECRET);
    const viaClass = await start(rootModule([WsAuthModule.forRootAsync({ extraProviders: [Settings], useClass: WsAuthSettings })]));
    await assertAuthenticates(viaClass, CONFIGURED_SECRET);
  });

  it('isGlobal with forRoot: a feature module injects WsConnections, WsTicketService and WsRevocations without importing WsAuthModule', async () => {
    const app = await start(rootModule([WsAuthModule.forRoot({ jwt: { secret: CONFIGURED_SECRET }, isGlobal: true }), moderationModule()]));
    await assertModerationWorks(app);
    await assertAuthenticates(app, CONFIGURED_SECRET, '/moderated');
  });

  it('isGlobal with forRootAsync', async () => {
    const app = await start(
      rootModule([WsAuthModule.forRootAsync({ isGlobal: true, imports: [SettingsModule], useClass: WsAuthSettings }), moderationModule()]),
    );
    await assertModerationWorks(app);
    await assertAuthenticates(app, CONFIGURED_SECRET, '/moderated');
  });

  it('without isGlobal the feature module cannot resolve them (forRoot and forRootAsync)', async () => {
    for (const registration of [
      WsAuthModule.forRoot({ jwt: { secret: CONFIGURED_SECRET } }),
      WsAuthModule.forRootAsync({ useFactory: () => ({ jwt: { secret: CONFIGURED_SECRET } }) }),
    ]) {
      const error = await startupError(rootModule([registration, moderationModule()], []));
      assert.match(error.message, /can't resolve dependencies of the Moderation/);
    }
  });

  it('gateways (with WsAuthGuard and WsRolesGuard) in a feature module need no isGlobal', async () => {
    @Module({ providers: [makeGateway('FeatureChat', 0, { path: '/feature' })] })
    class ChatModule {}
    const app = await start(rootModule([WsAuthModule.forRoot({ jwt: { secret: CONFIGURED_SECRET } }), ChatModule], []));
    await assertAuthenticates(app, CONFIGURED_SECRET, '/feature');
    const socket = await openSocket(app.url('/feature'), { headers: { Authorization: `Bearer ${signToken({ roles: ['admin'] }, {}, CONFIGURED_SECRET)}` } });
    assert.equal(socket.kind, 'open');
    if (socket.kind !== 'open') return;
    try {
      assert.equal((await request(socket.socket, 'admin')).data, 'ok');
      assert.deepEqual((await request(socket.socket, 'guarded', 'hi')).data, 'hi');
    } finally {
      socket.socket.close();
    }
  });

  it('is still registered only once: a global registration plus another one fails at startup', async () => {
    @Module({ imports: [WsAuthModule.forRootAsync({ imports: [SettingsModule], useClass: WsAuthSettings })] })
    class FeatureModule {}
    const error = await startupError(rootModule([WsAuthModule.forRoot({ jwt: { secret: CONFIGURED_SECRET }, isGlobal: true }), FeatureModule]));
    assert.match(error.message, /WsAuthModule.*registered more than once/);
  });

  it('forRootAsync takes exactly one of useFactory, useClass or useExisting', () => {
    const message = /WsAuthModule: forRootAsync takes exactly one of useFactory, useClass or useExisting/;
    assert.throws(() => WsAuthModule.forRootAsync({ imports: [SettingsModule] }), message);
    assert.throws(() => WsAuthModule.forRootAsync({ useClass: WsAuthSettings, useFactory: () => ({ jwt: { secret: TEST_SECRET } }) }), message);
  });
});

// Compile-time only: the public types refuse what Nest would fail on at runtime.
export function typeChecks() {
  class WrongMethod {
    create(): WsAuthOptions {
      return {};
    }
  }
  // @ts-expect-error an options factory implements createWsAuthOptions()
  WsAuthModule.forRootAsync({ useClass: WrongMethod });
  // @ts-expect-error useFactory returns WsAuthOptions
  WsAuthModule.forRootAsync({ useFactory: () => ({ jwt: { secret: 42 } }) });
  // The user type flows into validate's return type.
  WsAuthModule.forRoot<{ id: string }>({
    jwt: { secret: TEST_SECRET },
    // @ts-expect-error validate returns the declared user type (or a falsy value)
    validate: () => ({ name: 'not an id' }),
  });
}
