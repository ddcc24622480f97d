import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ForbiddenException, UnauthorizedException } from '@nestjs/common';
import { WsRefusal, type WsAuthenticateFn, type WsValidateFn } from '../../lib/index.js';
import { appModule, connectionLog, makeGateway } from '../support/fixtures.js';
import { assertNotLeaked, assertRefused, assertStillServes } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';
import { openSocket, request } from '../support/ws-client.js';

const SLOW_VALIDATE_MS = 500;
let slowValidations = 0;

const validators: Record<string, WsValidateFn> = {
  '/returns-null': () => null,
  '/nest-unauthorized': () => {
    throw new UnauthorizedException();
  },
  '/nest-forbidden': () => {
    throw new ForbiddenException();
  },
  '/refusal-forbidden': () => {
    throw new WsRefusal('forbidden');
  },
  // An app bug whose message quotes the request: the library must log the error's name only.
  '/throws': (_claims, request) => {
    throw new Error(`no user for ${request.headers.authorization}`);
  },
  // A rejection without a reason must still be a refusal, never mistaken for success.
  '/rejects-nothing': () => Promise.reject(undefined),
  '/slow': async (claims) => {
    await sleep(SLOW_VALIDATE_MS);
    slowValidations++;
    return claims;
  },
};

const API_KEYS: Record<string, { username: string }> = { 'key-of-the-billing-service': { username: 'billing' } };

const byApiKey: WsAuthenticateFn = (request) => {
  const key = request.headers['x-api-key'];
  if (key === 'key-revoked-yesterday') throw new ForbiddenException();
  const user = typeof key === 'string' ? API_KEYS[key] : undefined;
  return user ? { user, subject: user.username, roles: ['service'] } : null;
};

describe('verification outcomes of validate() and authenticate()', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(
      appModule([
        makeGateway('Open', 0, { path: '/open' }),
        ...Object.entries(validators).map(([path, validate]) => makeGateway(`Validate${path}`, 0, { path, wsAuth: { validate } })),
        makeGateway('Hangs', 0, { path: '/hangs', wsAuth: { validate: () => new Promise(() => undefined), verifyTimeoutMs: 300 } }),
        makeGateway('ApiKey', 0, { path: '/api-key', wsAuth: { authenticate: byApiKey } }),
        makeGateway('Query', 0, { path: '/query', wsAuth: { credentials: ['query'], queryParam: 'token' } }),
      ]),
    );
  });
  after(() => app.close());

  const withToken = (path: string, token = signToken()) => rawUpgrade(app.port, upgradeRequest(path, [['Authorization', `Bearer ${token}`]]));

  describe('validate()', () => {
    it('refuses with 401 invalid_token when it returns null', async () => {
      const token = signToken();
      const response = await withToken('/returns-null', token);
      assertRefused(response, 401, 'invalid_credential');
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="websocket", error="invalid_token"');
      assertNotLeaked(app, response.raw, token);
    });

    it('maps Nest UnauthorizedException to 401', async () => {
      assertRefused(await withToken('/nest-unauthorized'), 401, 'invalid_credential');
    });

    it('maps Nest ForbiddenException to 403 forbidden', async () => {
      const response = await withToken('/nest-forbidden');
      assertRefused(response, 403, 'forbidden');
      assert.equal(response.headers['www-authenticate'], undefined);
    });

    it('answers a thrown WsRefusal("forbidden") with 403', async () => {
      assertRefused(await withToken('/refusal-forbidden'), 403, 'forbidden');
    });

    it('fails closed with 500 on any other error, logging neither its message nor the token', async () => {
      const token = signToken();
      const response = await withToken('/throws', token);
      assertRefused(response, 500, 'internal_error');
      assertNotLeaked(app, response.raw, token);
      assert.ok(!app.logs.text().includes('no user for'), 'the error message may quote the request');
      assert.match(app.logs.text(), /threw Error/);
    });

    it('fails closed with 500 when it rejects with no reason at all', async () => {
      assertRefused(await withToken('/rejects-nothing'), 500, 'internal_error');
    });

    it('answers 503 when validate() outlives verifyTimeoutMs', async () => {
      const started = performance.now();
      const response = await withToken('/hangs');
      const elapsed = performance.now() - started;
      assertRefused(response, 503, 'verification_timeout');
      assert.ok(elapsed >= 250 && elapsed < 1000, `answered after ${Math.round(elapsed)} ms`);
      await assertStillServes(app.url('/open'));
    });

    it('does not upgrade a client that left during a slow validate(), and nothing escapes', async () => {
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => rejections.push(reason);
      process.on('unhandledRejection', onRejection);
      try {
        const seenBefore = connectionLog.length;
        const validatedBefore = slowValidations;
        const socket = connect(app.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write(upgradeRequest('/slow', [['Authorization', `Bearer ${signToken()}`]]));
        await sleep(100);
        socket.destroy();
        // Past the point where validate() resolves and ws would complete the upgrade.
        for (let waited = 0; slowValidations === validatedBefore && waited < 2000; waited += 20) await sleep(20);
        assert.equal(slowValidations, validatedBefore + 1, 'validate() should have run to its end');
        await sleep(100);
        assert.deepEqual(
          connectionLog.slice(seenBefore).filter((entry) => entry.gateway === 'Validate/slow'),
          [],
        );
        assert.deepEqual(rejections, []);
        assert.ok(!app.logs.text().includes('upgrade failed'), app.logs.text());
        await assertStillServes(app.url('/open'));
      } finally {
        process.off('unhandledRejection', onRejection);
      }
    });

    it('still upgrades a patient client through the same slow validate()', async () => {
      const outcome = await openSocket(app.url('/slow'), { headers: { Authorization: `Bearer ${signToken({ username: 'patient' })}` } });
      assert.equal(outcome.kind, 'open');
      if (outcome.kind === 'open') outcome.socket.close();
    });
  });

  describe('authenticate() escape hatch', () => {
    const withKey = (key: string) => rawUpgrade(app.port, upgradeRequest('/api-key', [['X-Api-Key', key]]));

    it('opens with the user it returned and source "custom"', async () => {
      const outcome = await openSocket(app.url('/api-key'), { headers: { 'X-Api-Key': 'key-of-the-billing-service' } });
      assert.equal(outcome.kind, 'open');
      if (outcome.kind !== 'open') return;
      const reply = await request(outcome.socket, 'whoami');
      assert.deepEqual(reply.data.user, { username: 'billing' });
      assert.deepEqual(reply.data.roles, ['service']);
      assert.equal(reply.data.source, 'custom');
      outcome.socket.close();
    });

    it('refuses an unknown key with 401 and does not log it', async () => {
      const key = 'key-nobody-ever-issued-4f1c';
      const response = await withKey(key);
      assertRefused(response, 401, 'invalid_credential');
      assertNotLeaked(app, response.raw, key);
    });

    it('refuses with 403 when authenticate() throws ForbiddenException', async () => {
      const response = await withKey('key-revoked-yesterday');
      assertRefused(response, 403, 'forbidden');
      assertNotLeaked(app, response.raw, 'key-revoked-yesterday');
    });

    it('ignores a bearer token: the escape hatch replaces JWT entirely', async () => {
      assertRefused(await withToken('/api-key'), 401, 'invalid_credential');
    });
  });

  describe('query credential with a custom parameter name', () => {
    it('opens with ?token=<jwt>', async () => {
      const outcome = await openSocket(app.url(`/query?token=${signToken({ username: 'quentin' })}`));
      assert.equal(outcome.kind, 'open');
      if (outcome.kind !== 'open') return;
      const reply = await request(outcome.socket, 'whoami');
      assert.deepEqual([reply.data.username, reply.data.source], ['quentin', 'query']);
      outcome.socket.close();
    });

    it('refuses a forged ?token= with 401 and leaves no trace of it', async () => {
      const forged = signToken({ username: 'mallory' }, {}, 'a-secret-this-app-never-had-0123456789');
      const response = await rawUpgrade(app.port, upgradeRequest(`/query?token=${forged}`));
      assertRefused(response, 401, 'invalid_credential');
      assertNotLeaked(app, response.raw, forged);
    });

    it('does not read the default parameter name once it is renamed, nor the header', async () => {
      const token = signToken();
      const response = await rawUpgrade(app.port, upgradeRequest(`/query?access_token=${token}`, [['Authorization', `Bearer ${token}`]]));
      assertRefused(response, 401, 'missing_credential');
      assertNotLeaked(app, response.raw, token);
    });
  });
});
