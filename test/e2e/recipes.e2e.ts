import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Module, Post, Req, UnauthorizedException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import session from 'express-session';
import { WsAuthAdapter, WsAuthModule, WsRefusal } from '../../lib/index.js';
import { apiKeyAuthenticator, apiKeyDigest, type ApiKeyClient } from '../../recipes/api-key.authenticator.js';
import { expressSessionAuthenticator } from '../../recipes/express-session.authenticator.js';
import { makeGateway } from '../support/fixtures.js';
import { LogCapture } from '../support/log-capture.js';
import { openSocket, request, type Outcome } from '../support/ws-client.js';

const BILLING_KEY = 'sk_live_billing_7f3a9c1e5b2d4f6a8c0e';
const CLIENTS = new Map<string, ApiKeyClient>([[apiKeyDigest(BILLING_KEY), { name: 'billing', roles: ['service'] }]]);
const SESSION_SECRET = 'recipe-session-secret-0123456789';

const sessions = session({ secret: SESSION_SECRET, resave: false, saveUninitialized: false, store: new session.MemoryStore() });

@Controller('session')
class SessionController {
  @Post('login')
  login(@Req() req: any, @Body() body: { username?: string; password?: string }) {
    const username = body?.username;
    if ((username !== 'alice' && username !== 'mallory') || body?.password !== username) throw new UnauthorizedException();
    req.session.user = { username, roles: ['user'], banned: username === 'mallory' };
    return { ok: true };
  }

  @Post('logout')
  logout(@Req() req: any) {
    return new Promise((resolve) => req.session.destroy(() => resolve({ ok: true })));
  }
}

@Module({
  imports: [WsAuthModule.forRoot({ jwt: { secret: 'unused-by-these-gateways-0123456789' } })],
  controllers: [SessionController],
  providers: [
    makeGateway('ApiKey', 0, { path: '/services', wsAuth: { authenticate: apiKeyAuthenticator(CLIENTS) } }),
    makeGateway('Session', 0, {
      path: '/session',
      wsAuth: {
        authenticate: expressSessionAuthenticator(sessions, (loaded) => {
          if (loaded.user?.banned) throw new WsRefusal('forbidden');
          return loaded.user ? { user: loaded.user, subject: loaded.user.username, roles: loaded.user.roles } : null;
        }),
      },
    }),
  ],
})
class RecipesModule {}

function assertRefused(outcome: Outcome, status: number, secret: string, logs: LogCapture): void {
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.status, status);
  assert.ok(!outcome.body.includes(secret) && !JSON.stringify(outcome.headers).includes(secret));
  assert.ok(!logs.text().includes(secret), 'the log must not contain the credential');
}

async function assertOpenAs(outcome: Outcome, username: string): Promise<void> {
  assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
  if (outcome.kind !== 'open') return;
  assert.equal((await request(outcome.socket, 'whoami')).data.username, username);
  outcome.socket.close();
}

describe('recipes: custom authenticators', () => {
  const logs = new LogCapture();
  let app: INestApplication;
  let base: string;

  before(async () => {
    app = await NestFactory.create(RecipesModule, { logger: logs, abortOnError: false });
    app.use(sessions);
    app.useWebSocketAdapter(new WsAuthAdapter(app));
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address();
    base = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => app?.close());

  describe('an API key header, for services', () => {
    const connect = (key?: string) => openSocket(`ws://${base}/services`, { headers: key === undefined ? {} : { 'X-Api-Key': key } });

    it('accepts a known key as its service', async () => {
      const outcome = await connect(BILLING_KEY);
      assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
      if (outcome.kind !== 'open') return;
      const reply = await request(outcome.socket, 'whoami');
      assert.deepEqual([reply.data.user.name, reply.data.roles, reply.data.source], ['billing', ['service'], 'custom']);
      outcome.socket.close();
    });

    it('refuses a missing, unknown, empty or oversized key with 401, echoing none', async () => {
      for (const key of [undefined, `${BILLING_KEY}x`, '', 'k'.repeat(5000)]) {
        assertRefused(await connect(key), 401, key || BILLING_KEY, logs);
      }
    });
  });

  describe('an express-session cookie shared with the HTTP side', () => {
    async function login(username = 'alice'): Promise<string> {
      const response = await fetch(`http://${base}/session/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: username }),
      });
      assert.equal(response.status, 201);
      const cookie = response.headers.get('set-cookie')?.split(';')[0];
      assert.ok(cookie?.startsWith('connect.sid='));
      return cookie!;
    }
    const connect = (cookie?: string, origin?: string) =>
      openSocket(`ws://${base}/session`, { headers: { ...(cookie && { Cookie: cookie }), ...(origin && { Origin: origin }) } });

    it('opens the socket as the user the session belongs to', async () => {
      await assertOpenAs(await connect(await login(), `http://${base}`), 'alice');
    });

    it('refuses with 401 no cookie, a tampered cookie and a logged-out session', async () => {
      const cookie = await login();
      assertRefused(await connect(), 401, cookie, logs);
      assertRefused(await connect(`${cookie.slice(0, -3)}abc`), 401, cookie, logs);
      await fetch(`http://${base}/session/logout`, { method: 'POST', headers: { Cookie: cookie } });
      assertRefused(await connect(cookie), 401, cookie, logs);
    });

    it('answers 403 when the app refuses a loaded session, and stays up', async () => {
      const cookie = await login('mallory');
      assertRefused(await connect(cookie), 403, cookie, logs);
      await assertOpenAs(await connect(await login()), 'alice');
    });

    it('refuses a cross-site page riding the cookie with 403, before the session is read', async () => {
      const cookie = await login();
      assertRefused(await connect(cookie, 'https://evil.example'), 403, cookie, logs);
    });
  });
});
