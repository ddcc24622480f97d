import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import jwt from 'jsonwebtoken';
import { WsAuthAdapter, type WsAuthenticated, type WsAuthOptions } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { hmacSignedToken } from '../support/forged-tokens.js';
import { LogCapture } from '../support/log-capture.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket } from '../support/ws-client.js';

const TOLERANCE_SECONDS = 5;
// Timers fire a little late, never early; Date.now() and the timer clock may differ by a few ms.
const EARLY_MS = 20;
const LATE_MS = 300;

// What `validate()` answers, chosen by the token's `verdict` claim.
const VERDICTS: Record<string, unknown> = { false: false, zero: 0, empty: '', null: null, undefined: undefined };

/**
 * A custom authenticator driven by headers: `x-verdict` picks a bad answer, otherwise the user
 * in `x-user` is admitted until `x-expires-in` ms from now. `x-api-key` is the credential the
 * leak checks look for; it decides nothing.
 */
function authenticate(request: IncomingMessage): WsAuthenticated | false | 0 | '' | null | undefined {
  const header = (name: string) => request.headers[name] as string | undefined;
  const user = { username: header('x-user') ?? 'custom' };
  const expiresAt = Date.now() + Number(header('x-expires-in') ?? 60_000);
  switch (header('x-verdict')) {
    case 'false':
      return false;
    case 'zero':
      return 0;
    case 'empty':
      return '';
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'user-zero':
      return { user: 0 };
    case 'user-false':
      return { user: false };
    case 'user-empty':
      return { user: '' };
    case 'nan':
      return { user, subject: user.username, expiresAt: Number.NaN };
    case 'infinity':
      return { user, subject: user.username, expiresAt: Infinity };
    case 'string':
      return { user, subject: user.username, expiresAt: '123' as unknown as number };
    default:
      return { user, subject: user.username, expiresAt };
  }
}

const options: WsAuthOptions = { jwt: { secret: TEST_SECRET, clockToleranceSeconds: TOLERANCE_SECONDS } };

/** A token signed correctly over its exact header and payload text, which no signing library would write. */
const handSigned = (header: Record<string, unknown> | string, payload: string) =>
  hmacSignedToken(typeof header === 'string' ? header : JSON.stringify(header), payload, TEST_SECRET);

const livePayload = () => JSON.stringify({ sub: '1', username: 'alice', roles: ['user'], iat: nowSeconds(), exp: nowSeconds() + 300 });

describe('values that must never fail open', { timeout: 30_000 }, () => {
  let app: TestApp;

  before(async () => {
    app = await startTestApp(
      appModule(
        [
          makeGateway('Chat', 0, { path: '/chat' }),
          makeGateway('Judged', 0, {
            path: '/judged',
            wsAuth: { validate: (claims) => (typeof claims.verdict === 'string' ? VERDICTS[claims.verdict] : claims) },
          }),
          makeGateway('Custom', 0, { path: '/custom', wsAuth: { authenticate } }),
        ],
        options,
      ),
    );
  });
  after(() => app.close());

  /** Refused with `status` and nothing of the credential in the answer (status line, headers, body) or the log. */
  async function assertRefused(path: string, headers: Array<[string, string]>, status: number, credential: string) {
    const response = await rawUpgrade(app.port, upgradeRequest(path, headers));
    assert.equal(response.status, status, `expected ${status}, got ${JSON.stringify(response.raw.slice(0, 160))}`);
    assert.equal(response.headers.connection, 'close');
    assert.ok(!response.raw.includes(credential), 'the client must not get its credential back');
    assert.ok(!app.logs.text().includes(credential), 'the log must not contain the credential');
    return response;
  }

  const bearer = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];
  const apiKey = () => `key-${randomBytes(12).toString('hex')}`;
  const custom = (key: string, extra: Record<string, string>): Array<[string, string]> => [['X-Api-Key', key], ...Object.entries(extra)];

  /** The socket of a user the custom authenticator admits until `expiresIn` ms from now. */
  async function openCustom(user: string, expiresIn: number): Promise<{ socket: SocketWitness; expiresAt: number; key: string }> {
    const key = apiKey();
    const expiresAt = Date.now() + expiresIn;
    const socket = await openWitnessed(app.url('/custom'), { headers: { 'X-Api-Key': key, 'X-User': user, 'X-Expires-In': String(expiresIn) } });
    assert.equal((await socket.request('whoami')).data.username, user);
    return { socket, expiresAt, key };
  }

  async function assertExpiredNear(socket: SocketWitness, expiresAt: number, key: string) {
    let timer: NodeJS.Timeout | undefined;
    const close = await Promise.race([
      socket.closed,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the socket outlived its expiry by 2 s')), expiresAt - Date.now() + 2000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(close.code, 4401, `got ${close.code} "${close.reason}"`);
    assert.equal(close.reason, 'Token Expired');
    assert.ok(close.at >= expiresAt - EARLY_MS && close.at <= expiresAt + LATE_MS, `closed ${close.at - expiresAt} ms off its expiry`);
    assert.ok(!socket.seen(close).includes(key), 'the client must not get its credential back');
    assert.ok(!app.logs.text().includes(key), 'the log must not contain the credential');
  }

  describe('JWT header and claims', () => {
    it('control: an ordinary hand-signed token opens', async () => {
      const socket = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${handSigned({ alg: 'HS256', typ: 'JWT' }, livePayload())}` } });
      assert.equal((await socket.request('whoami')).data.username, 'alice');
      await socket.close();
    });

    it('refuses exp 1e309, which parses as Infinity and jsonwebtoken takes for a token that never expires', async () => {
      for (const payload of [
        '{"sub":"1","username":"alice","exp":1e309}',
        `{"sub":"1","username":"alice","exp":${nowSeconds() + 300},"nbf":-1e309}`,
        `{"sub":"1","username":"alice","exp":${nowSeconds() + 300},"iat":1e999}`,
      ]) {
        const token = handSigned({ alg: 'HS256', typ: 'JWT' }, payload);
        await assertRefused('/chat', bearer(token), 401, token);
      }
    });

    it('refuses crit, empty or not, and b64: false, though correctly signed', async () => {
      for (const header of [
        { alg: 'HS256', crit: ['exp'], exp: 1 },
        { alg: 'HS256', crit: [] },
        { alg: 'HS256', b64: false },
        { alg: 'HS256', b64: false, crit: ['b64'] },
      ]) {
        const token = handSigned(header, livePayload());
        await assertRefused('/chat', bearer(token), 401, token);
      }
    });

    it('refuses a header that is not a JSON object', async () => {
      for (const header of ['["HS256"]', '"HS256"', 'null']) {
        const token = handSigned(header, livePayload());
        await assertRefused('/chat', bearer(token), 401, token);
      }
    });
  });

  // Decided where an identity is built from claims (lib/identity/jwt-identity.ts).
  describe('validate() answering a falsy value', () => {
    for (const verdict of Object.keys(VERDICTS)) {
      it(`refuses with 401 when validate returns ${verdict === 'zero' ? '0' : verdict === 'empty' ? "''" : verdict}`, async () => {
        const token = signToken({ verdict });
        await assertRefused('/judged', bearer(token), 401, token);
      });
    }

    it('control: the same gateway admits a user validate() returns', async () => {
      const socket = await openWitnessed(app.url('/judged'), { headers: { Authorization: `Bearer ${signToken({ username: 'judged' })}` } });
      assert.equal((await socket.request('whoami')).data.username, 'judged');
      await socket.close();
    });
  });

  describe('authenticate() answering a falsy value or a falsy user', () => {
    for (const verdict of ['false', 'zero', 'empty', 'null', 'undefined', 'user-zero', 'user-false', 'user-empty']) {
      it(`refuses with 401 for ${verdict}`, async () => {
        const key = apiKey();
        await assertRefused('/custom', custom(key, { 'X-Verdict': verdict }), 401, key);
      });
    }
  });

  // Decided in the handshake authenticator; the expiry schedule must survive it regardless.
  describe('authenticate() answering an expiresAt that is not a finite number', () => {
    for (const verdict of ['nan', 'infinity', 'string']) {
      it(`refuses with 500 for ${verdict}`, async () => {
        const key = apiKey();
        await assertRefused('/custom', custom(key, { 'X-Verdict': verdict }), 500, key);
      });
    }

    it('a NaN expiresAt never stalls the expiry of other users: they are still closed at their expiry', async () => {
      // NaN is the value that poisons a min-heap (every comparison with it is false); once at
      // the top, it used to stop every other connection's expiry for good.
      const early = await openCustom('early', 700);
      const attempt = await openSocket(app.url('/custom'), { headers: { 'X-Api-Key': apiKey(), 'X-Verdict': 'nan', 'X-User': 'bad-nan' } });
      try {
        // Scheduled after the bad attempt, with an earlier deadline than `early`.
        const later = await openCustom('later', 400);
        await Promise.all([assertExpiredNear(early.socket, early.expiresAt, early.key), assertExpiredNear(later.socket, later.expiresAt, later.key)]);
        assert.equal(attempt.kind, 'refused');
      } finally {
        // Kept open until now if it got through: closing it would take its deadline out again.
        if (attempt.kind === 'open') attempt.socket.close();
      }
    });
  });

  // An accepted token lives until exp + tolerance: identity.expiresAt = (exp + clockToleranceSeconds) * 1000.
  describe('clockToleranceSeconds', () => {
    it('admits a token that expired 2 s ago, keeps it open, and closes it with 4401 at exp + tolerance', async () => {
      // Start early in a second, so `exp` (whole seconds) sits 2.0 to 2.2 s in the past.
      while (Date.now() % 1000 >= 200) await sleep(10);
      const exp = nowSeconds() - 2;
      const token = jwt.sign({ sub: 'late', username: 'late', roles: ['user'], exp }, TEST_SECRET);
      const socket = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
      await sleep(1000);
      assert.equal(socket.socket.readyState, socket.socket.OPEN, 'closed although within the tolerance');
      assert.equal((await socket.request('guarded', { still: 'here' })).data.still, 'here');
      const closeAt = (exp + TOLERANCE_SECONDS) * 1000;
      await assertExpiredNear(socket, closeAt, token);
    });

    it('still refuses a token that expired longer ago than the tolerance', async () => {
      const token = jwt.sign({ sub: '1', username: 'alice', exp: nowSeconds() - TOLERANCE_SECONDS - 2 }, TEST_SECRET);
      await assertRefused('/chat', bearer(token), 401, token);
    });
  });
});

describe('trustedProxies read strictly at startup', () => {
  it("does not start with trustedProxies ['10.0.0.1/'], which used to trust every address", async () => {
    const module: DynamicModule = appModule([makeGateway('Chat', 0, { path: '/chat' })], {
      jwt: { secret: TEST_SECRET },
      clientCertificate: { validate: () => null, proxyHeader: 'X-Client-Cert', trustedProxies: ['10.0.0.1/'] },
    });
    const logs = new LogCapture();
    let app: INestApplication | undefined;
    let failure: unknown;
    try {
      app = await NestFactory.create(module, { logger: logs, abortOnError: false });
      app.useWebSocketAdapter(new WsAuthAdapter(app));
      await app.listen(0, '127.0.0.1');
    } catch (error) {
      failure = error;
    } finally {
      await app?.close();
    }
    assert.ok(failure instanceof Error, 'the app started although a trusted proxy entry is malformed');
    assert.match(failure.message, /trustedProxies: "10\.0\.0\.1\/" has a bad prefix/);
  });
});
