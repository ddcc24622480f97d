import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { Inject, Injectable, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { WS_AUTH_OPTIONS, WsAuthAdapter, WsAuthModule, type WsAuthOptions } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { freePort } from '../support/free-port.js';
import { LogCapture } from '../support/log-capture.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket, request } from '../support/ws-client.js';

type AdapterChoice = 'ws-auth' | 'plain-ws';

/**
 * Boots like an app's main.ts and returns what stopped it. Whatever got as far as creating
 * servers is closed again, so a failed start leaves no port bound and nothing keeping the
 * test process alive.
 */
async function startupError(module: DynamicModule, adapter: AdapterChoice = 'ws-auth'): Promise<Error> {
  const logs = new LogCapture();
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(module, { logger: logs, abortOnError: false });
    app.useWebSocketAdapter(adapter === 'plain-ws' ? new WsAdapter(app) : new WsAuthAdapter(app));
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app?.close();
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  await app.close();
  assert.fail('the app started although its configuration is unsafe');
}

async function assertStartupFails(module: DynamicModule, message: RegExp, adapter?: AdapterChoice) {
  const error = await startupError(module, adapter);
  assert.match(error.message, message);
  return error;
}

function chatModule(options: WsAuthOptions, path = '/chat'): DynamicModule {
  return appModule([makeGateway('Chat', 0, { path })], options);
}

const jwtOnly: WsAuthOptions = { jwt: { secret: TEST_SECRET } };

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function assertAuthenticates(app: TestApp, path = '/chat') {
  const outcome = await openSocket(app.url(path), { headers: { Authorization: `Bearer ${signToken({ username: 'carol' })}` } });
  assert.equal(outcome.kind, 'open', `a valid token must open the socket, got ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'open') return;
  try {
    assert.equal((await request(outcome.socket, 'whoami')).data.username, 'carol');
  } finally {
    outcome.socket.close();
  }
  const anonymous = await openSocket(app.url(path));
  assert.equal(anonymous.kind, 'refused');
  if (anonymous.kind === 'refused') assert.equal(anonymous.status, 401);
}

describe('startup refuses unsafe configurations', () => {
  it('needs jwt, client certificates or authenticate', async () => {
    await assertStartupFails(chatModule({}), /set jwt \(a secret, a publicKey or a jwksUri\), clientCertificate or an authenticate function/);
  });

  it('refuses a JWKS together with a secret', async () => {
    await assertStartupFails(chatModule({ jwt: { jwksUri: 'https://id.example.test/jwks', secret: TEST_SECRET } }), /jwksUri is exclusive/);
  });

  it('refuses the certificate source without clientCertificate options', async () => {
    await assertStartupFails(chatModule({ jwt: { secret: TEST_SECRET }, credentials: ['certificate'] }), /needs clientCertificate options/);
  });

  it('refuses an empty jwt.algorithms list', async () => {
    await assertStartupFails(chatModule({ jwt: { secret: TEST_SECRET, algorithms: [] } }), /jwt\.algorithms must not be empty/);
  });

  for (const none of ['none', 'NONE']) {
    it(`refuses algorithms: ['${none}']`, async () => {
      await assertStartupFails(chatModule({ jwt: { secret: TEST_SECRET, algorithms: [none as never] } }), /"none" algorithm is never allowed/);
    });
  }

  it('refuses a secret and a publicKey together', async () => {
    const publicKey = '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n';
    await assertStartupFails(chatModule({ jwt: { secret: TEST_SECRET, publicKey } }), /jwt\.secret and jwt\.publicKey are exclusive; set one/);
  });

  it('refuses an empty credentials list', async () => {
    await assertStartupFails(chatModule({ ...jwtOnly, credentials: [] }), /credentials must list at least one source/);
  });

  it('refuses an unknown credential source and names it', async () => {
    await assertStartupFails(chatModule({ ...jwtOnly, credentials: ['header', 'url' as never] }), /unknown credential source "url"/);
  });

  it('refuses a wildcard allowedOrigins entry', async () => {
    await assertStartupFails(chatModule({ ...jwtOnly, allowedOrigins: ['*'] }), /allowedOrigins entry "\*" has a wildcard/);
  });

  it('refuses an allowedOrigins entry with a path', async () => {
    await assertStartupFails(
      chatModule({ ...jwtOnly, allowedOrigins: ['https://a.com/path'] }),
      /allowedOrigins entry "https:\/\/a\.com\/path" must be scheme:\/\/host\[:port\] only/,
    );
  });

  it("refuses the same mistakes in a gateway's wsAuth overrides", async () => {
    const gateway = makeGateway('BadOrigins', 0, { path: '/bad', wsAuth: { allowedOrigins: ['*'] } });
    await assertStartupFails(appModule([gateway], jwtOnly), /allowedOrigins entry "\*"/);
    const sources = makeGateway('BadSources', 0, { path: '/bad', wsAuth: { credentials: [] } });
    await assertStartupFails(appModule([sources], jwtOnly), /credentials must list at least one source/);
  });
});

describe('startup refuses gateways that WsAuthAdapter does not serve', () => {
  it("fails when the app installs Nest's plain WsAdapter, and names WsAuthAdapter", async () => {
    const error = await assertStartupFails(chatModule(jwtOnly), /WsAuthAdapter/, 'plain-ws');
    assert.match(error.message, /Chat/, 'the message names the unprotected gateway');
    assert.match(error.message, /app\.useWebSocketAdapter\(new WsAuthAdapter\(app\)\)/, 'the message gives the fix');
  });

  it('fails for a gateway on a port of its own too, and leaves that port free', async () => {
    const port = await freePort();
    await assertStartupFails(appModule([makeGateway('Side', port, { path: '/side' })], jwtOnly), /WsAuthAdapter/, 'plain-ws');
    assert.ok(await refused(port), `port ${port} is still listening after the failed start`);
  });

  it("leaves no unauthenticated socket on a gateway's own port once the check has failed, even before app.close()", async () => {
    const port = await freePort();
    const app = await NestFactory.create(appModule([makeGateway('Side', port, { path: '/side' })], jwtOnly), {
      logger: new LogCapture(),
      abortOnError: false,
    });
    app.useWebSocketAdapter(new WsAdapter(app));
    try {
      // As in a main.ts that logs the bootstrap error instead of letting the process die.
      await assert.rejects(app.listen(0, '127.0.0.1'), /WsAuthAdapter/);
      const outcome = await openSocket(`ws://127.0.0.1:${port}/side`);
      if (outcome.kind === 'open') outcome.socket.close();
      assert.notEqual(outcome.kind, 'open', 'an anonymous client got a socket from the failed app');
    } finally {
      await app.close();
    }
  });

  it('boots an app that imports WsAuthModule but has no gateway and no adapter', async () => {
    const app = await startTestApp(appModule([], jwtOnly), { adapter: false });
    await app.close();
  });
});

const SECRET = Symbol('SECRET');

@Module({ providers: [{ provide: SECRET, useValue: TEST_SECRET }], exports: [SECRET] })
class SecretsModule {}

/** Stands for any feature-module provider that reads the auth options without importing the module. */
@Injectable()
class OptionsReader {
  constructor(@Inject(WS_AUTH_OPTIONS) readonly options: WsAuthOptions) {}
}

function featureModule(): DynamicModule {
  @Module({})
  class ChatFeatureModule {}
  return { module: ChatFeatureModule, providers: [makeGateway('FeatureChat', 0, { path: '/feature' }), OptionsReader] };
}

function rootModule(imports: DynamicModule[]): DynamicModule {
  @Module({})
  class RootModule {}
  return { module: RootModule, imports };
}

describe('module registration', () => {
  const apps: TestApp[] = [];
  after(() => Promise.all(apps.map((app) => app.close())));

  it('forRootAsync builds the options from injected providers and authenticates', async () => {
    const module = rootModule([
      WsAuthModule.forRootAsync({
        imports: [SecretsModule],
        inject: [SECRET],
        useFactory: async (secret: string) => ({ jwt: { secret } }),
      }),
      { module: SecretsModule },
    ]);
    const app = await startTestApp({ ...module, providers: [makeGateway('AsyncChat', 0, { path: '/chat' })] });
    apps.push(app);
    await assertAuthenticates(app);
    const forged = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({}, {}, 'a-different-secret-0123456789abcdef')}` } });
    assert.equal(forged.kind, 'refused', "the factory's secret, not another, verifies tokens");
  });

  it('forRootAsync checks the options its factory returns', async () => {
    await assertStartupFails(
      {
        ...rootModule([WsAuthModule.forRootAsync({ useFactory: () => ({ jwt: { secret: TEST_SECRET, algorithms: [] } }) })]),
        providers: [makeGateway('AsyncBad', 0, { path: '/chat' })],
      },
      /jwt\.algorithms must not be empty/,
    );
  });

  it('isGlobal: true makes the options injectable in a feature module that does not import WsAuthModule', async () => {
    const app = await startTestApp(rootModule([WsAuthModule.forRoot({ ...jwtOnly, isGlobal: true }), featureModule()]));
    apps.push(app);
    assert.equal(app.app.get(OptionsReader, { strict: false }).options.jwt?.secret, TEST_SECRET);
    await assertAuthenticates(app, '/feature');
  });

  it('isGlobal works with forRootAsync as well', async () => {
    const app = await startTestApp(
      rootModule([
        WsAuthModule.forRootAsync({ isGlobal: true, imports: [SecretsModule], inject: [SECRET], useFactory: (secret: string) => ({ jwt: { secret } }) }),
        featureModule(),
      ]),
    );
    apps.push(app);
    await assertAuthenticates(app, '/feature');
  });

  it('without isGlobal the feature module cannot see the options (control)', async () => {
    await assertStartupFails(rootModule([WsAuthModule.forRoot(jwtOnly), featureModule()]), /can't resolve dependencies of the OptionsReader/);
  });
});
