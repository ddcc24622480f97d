import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { RedisRevocationStore, WsRevocations, type WsAuthOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { RedisServer } from '../support/redis-server.js';
import { cookieValue, startSample, type RunningSample } from '../support/sample-app.js';
import { eventually, sleep } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { nowSeconds, TEST_SECRET } from '../support/tokens.js';

const header = (token: string): Array<[string, string]> => [['Authorization', `Bearer ${token}`]];
const upgrade = (app: { port: number }, token: string): Promise<RawResponse> => rawUpgrade(app.port, upgradeRequest('/chat', header(token)));
const statusOf = async (app: { port: number }, token: string) => (await upgrade(app, token)).status;

/** Signs the claims given; jsonwebtoken keeps a given iat as it is (fractional included). */
const signRaw = (claims: Record<string, unknown> & { iat: number }) => jwt.sign(claims, TEST_SECRET);

describe('attack: revocation vs. clock tolerance and claim shapes', { timeout: 30_000 }, () => {
  const TOLERANCE_S = 3;
  const LIFETIME_S = 2;
  let tolerant: TestApp;
  let strict: TestApp;

  before(async () => {
    const options = (jwtExtra: Partial<WsAuthOptions['jwt'] & object>, revocation: WsAuthOptions['revocation']): WsAuthOptions => ({
      jwt: { secret: TEST_SECRET, ...jwtExtra } as WsAuthOptions['jwt'],
      revocation,
    });
    tolerant = await startTestApp(
      appModule(
        [makeRecordingGateway('AtkTolerant', { path: '/chat' })],
        options({ clockToleranceSeconds: TOLERANCE_S }, { maxTokenLifetimeSeconds: LIFETIME_S }),
      ),
    );
    strict = await startTestApp(appModule([makeRecordingGateway('AtkStrict', { path: '/chat' })], options({}, {})));
  });
  after(async () => {
    await tolerant?.close();
    await strict?.close();
  });

  it('a token logged out with the README recipe (expiresAt: exp * 1000) is still refused while the verifier still admits it (clock tolerance)', async () => {
    const now = nowSeconds();
    const token = signRaw({ sub: 'atk-tol-jti', jti: 'atk-tol-jti', iat: now, exp: now + LIFETIME_S });
    assert.equal(await statusOf(tolerant, token), 101, 'precondition: the token works');
    await tolerant.app.get(WsRevocations).revoke({ jti: 'atk-tol-jti', expiresAt: (now + LIFETIME_S) * 1000 }, 'logged_out');
    assert.equal(await statusOf(tolerant, token), 401, 'refused right after logout');
    // Past exp, but inside the verifier's tolerance: the token is still a valid credential.
    while (Date.now() < (now + LIFETIME_S) * 1000 + 500) await sleep(50);
    assert.equal(await statusOf(tolerant, token), 401, 'a logged-out token must not open a socket again before the verifier stops accepting it');
  });

  it('a subject revocation outlasts every token it covers, clock tolerance included', async () => {
    const now = nowSeconds();
    // exp - iat = LIFETIME_S + TOLERANCE_S: the lifetime rule admits it.
    const token = signRaw({ sub: 'atk-tol-sub', iat: now, exp: now + LIFETIME_S + TOLERANCE_S });
    assert.equal(await statusOf(tolerant, token), 101, 'precondition: the token works');
    await tolerant.app.get(WsRevocations).revoke({ subject: 'atk-tol-sub' }, 'banned');
    assert.equal(await statusOf(tolerant, token), 401, 'refused right after the ban');
    // The revocation is kept LIFETIME_S; the token is admitted until exp + TOLERANCE_S.
    await sleep(LIFETIME_S * 1000 + 700);
    assert.equal(await statusOf(tolerant, token), 401, 'a banned token must not open a socket while it is still admitted');
  });

  it('revoke({ jti }) covers a token whose jti is a number (or such a token is refused)', async () => {
    const token = signRaw({ sub: 'atk-num-jti', jti: 4242, iat: nowSeconds(), exp: nowSeconds() + 60 });
    await strict.app.get(WsRevocations).revoke({ jti: '4242' });
    assert.equal(await statusOf(strict, token), 401, 'a token with numeric jti 4242 opened a socket after revoke({ jti: "4242" })');
  });

  it('a subject revocation covers a token with a fractional iat issued earlier in the same second', async () => {
    // Early in a second, so the token and the revocation share it.
    while (Date.now() % 1000 > 200) await sleep(5);
    const issuedAt = Date.now() / 1000; // RFC 7519 NumericDate may be non-integer
    const token = signRaw({ sub: 'atk-frac-iat', iat: issuedAt, exp: Math.floor(issuedAt) + 60 });
    assert.equal((jwt.decode(token) as { iat: number }).iat, issuedAt, 'precondition: the fractional iat is signed');
    await sleep(20);
    await strict.app.get(WsRevocations).revoke({ subject: 'atk-frac-iat' });
    assert.ok(Date.now() / 1000 - issuedAt < 1 && Math.floor(Date.now() / 1000) === Math.floor(issuedAt), 'precondition: same second');
    assert.equal(await statusOf(strict, token), 401, 'a token issued before the ban (same second, fractional iat) opened a socket');
  });
});

const binary = RedisServer.find();

describe('attack: Redis restart without persistence', { skip: binary ? false : 'redis-server not installed', timeout: 60_000 }, () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;

  const instance = (name: string) =>
    startTestApp(
      appModule([makeRecordingGateway(name, { path: '/chat' })], {
        jwt: { secret: TEST_SECRET },
        revocation: { store: new RedisRevocationStore({ url: redis.url, keyPrefix: 'atk-revocations:', reconcileIntervalMs: 500 }) },
      }),
    );

  before(async () => {
    redis = await RedisServer.start(binary!);
    a = await instance('AtkRA');
    b = await instance('AtkRB');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a ban made before Redis restarted (data lost) is still enforced by every instance afterwards', async () => {
    const banned = signRaw({ sub: 'atk-restart', iat: nowSeconds() - 5, exp: nowSeconds() + 600 });
    await a.app.get(WsRevocations).revoke({ subject: 'atk-restart' }, 'banned');
    await eventually(async () => (await statusOf(b, banned)) === 401, 3000, 'B learning of the ban');

    await redis.stop();
    await sleep(300);
    await redis.resume();

    // Wait until both instances are back on Redis: a new revocation from A reaches B.
    const probe = signRaw({ sub: 'atk-restart-probe', iat: nowSeconds() - 5, exp: nowSeconds() + 600 });
    await eventually(
      async () => {
        try {
          await a.app.get(WsRevocations).revoke({ subject: 'atk-restart-probe' });
        } catch {
          return false;
        }
        return (await statusOf(b, probe)) === 401;
      },
      15_000,
      'both instances back on Redis',
    );
    await sleep(1500); // a few reconcile rounds

    assert.equal(await statusOf(a, banned), 401, 'A forgot the ban when Redis came back empty');
    assert.equal(await statusOf(b, banned), 401, 'B forgot the ban when Redis came back empty');
  });
});

for (const withRedis of [false, true]) {
  describe(
    `attack: sample refresh-token reuse detection${withRedis ? ' (Redis store)' : ''}`,
    { skip: withRedis && !binary ? 'redis-server not installed' : false, timeout: 30_000 },
    () => {
      let redis: RedisServer | undefined;
      let sample: RunningSample;
      before(async () => {
        redis = withRedis ? await RedisServer.start(binary!) : undefined;
        sample = await startSample(redis ? { redisUrl: redis.url } : {});
      });
      after(async () => {
        await sample?.close();
        await redis?.stop();
      });

      const refresh = async (refreshToken: string) => {
        const response = await sample.post('/auth/refresh', { headers: { Cookie: `refresh_token=${refreshToken}` } });
        return {
          status: response.status,
          access: response.status === 200 ? (response.json().access_token as string) : undefined,
          next: cookieValue(response.cookies, 'refresh_token'),
        };
      };

      it("a thief's access token is revoked when the stolen refresh token's reuse is detected, however often the thief rotated", async () => {
        const login = await sample.post('/auth/login', { json: { username: 'alice', password: 'alice' } });
        assert.equal(login.status, 200);
        const stolen = cookieValue(login.cookies, 'refresh_token')!;

        // The thief spends the stolen refresh token, keeps that access token, then rotates 50 more times.
        const first = await refresh(stolen);
        assert.equal(first.status, 200);
        const thiefAccess = first.access!;
        let current = first.next!;
        let rotations = 0;
        for (let i = 0; i < 50; i++) {
          const next = await refresh(current);
          // A sample that refuses (and ends the session) past some count is a fix, not a failure.
          if (next.status !== 200) break;
          rotations++;
          current = next.next!;
        }
        console.log(`the thief rotated ${rotations} times`);

        // The victim's client refreshes with the token it holds: reuse, the family ends, its tokens are revoked.
        assert.equal((await refresh(stolen)).status, 401);
        assert.equal((await refresh(current)).status, 401, 'precondition: the family ended');

        const response = await rawUpgrade(sample.config.port, upgradeRequest('/chat', header(thiefAccess)));
        assert.equal(response.status, 401, "the thief's first access token still opens sockets after reuse detection");
      });
    },
  );
}

describe('attack: maxTokenLifetimeSeconds and tokens without iat', { timeout: 30_000 }, () => {
  const LIFETIME_S = 2;
  let app: TestApp;
  before(async () => {
    app = await startTestApp(
      appModule([makeRecordingGateway('AtkNoIat', { path: '/chat' })], { jwt: { secret: TEST_SECRET }, revocation: { maxTokenLifetimeSeconds: LIFETIME_S } }),
    );
  });
  after(() => app?.close());

  it('a banned user cannot wait out the ban with a longer-lived token that has no iat', async () => {
    // Issued before the ban, living longer than the lifetime rule allows: without iat the rule
    // can only compare exp with now, so the token is admitted once its remaining life is short.
    const token = jwt.sign({ sub: 'atk-no-iat', exp: nowSeconds() + LIFETIME_S + 3 }, TEST_SECRET, { noTimestamp: true });
    await app.app.get(WsRevocations).revoke({ subject: 'atk-no-iat' }, 'banned');
    assert.equal(await statusOf(app, token), 401, 'refused during the ban');
    await sleep(LIFETIME_S * 1000 + 1500);
    assert.equal(await statusOf(app, token), 401, 'a token from before the ban opened a socket once the ban was forgotten');
  });
});
