import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import { RedisServer } from '../support/redis-server.js';
import { cookieValue, SAMPLE_TEST_SECRET, startSample, type RunningSample, type SampleResponse } from '../support/sample-app.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { closed, nextEvent, openOrFail, openSocket, request } from '../support/ws-client.js';
import { Secrets } from '../support/secrets.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Session {
  accessToken: string;
  refreshToken: string;
}

const claimsOf = (token: string) => jwt.verify(token, SAMPLE_TEST_SECRET) as jwt.JwtPayload;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Every secret a test handled, to search responses and logs for. */

async function loginSession(sample: RunningSample, username: string, secrets: Secrets, password = username): Promise<Session> {
  const response = await sample.post('/auth/login', { json: { username, password } });
  assert.equal(response.status, 200, response.body);
  const session = { accessToken: response.json().access_token as string, refreshToken: cookieValue(response.cookies, 'refresh_token')! };
  assert.ok(session.refreshToken, 'login sets a refresh_token cookie');
  secrets.add(session.accessToken, session.refreshToken);
  return session;
}

function refresh(sample: RunningSample, refreshToken: string): Promise<SampleResponse> {
  return sample.post('/auth/refresh', { headers: { Cookie: `refresh_token=${refreshToken}` } });
}

async function refreshed(sample: RunningSample, refreshToken: string, secrets: Secrets): Promise<Session> {
  const response = await refresh(sample, refreshToken);
  assert.equal(response.status, 200, response.body);
  assert.deepEqual(Object.keys(response.json()), ['access_token']);
  const session = { accessToken: response.json().access_token as string, refreshToken: cookieValue(response.cookies, 'refresh_token')! };
  assert.equal(cookieValue(response.cookies, 'access_token'), session.accessToken);
  secrets.add(session.accessToken, session.refreshToken);
  return session;
}

/** A refusal: the status, and nothing secret in what the client was told. */
function assertRefused(response: SampleResponse, status: number, secrets: Secrets) {
  assert.equal(response.status, status, response.body);
  secrets.assertAbsentFrom(response.body + JSON.stringify(response.headers), 'a refusal');
}

async function assertUpgradeRefused(sample: RunningSample, token: string, secrets: Secrets) {
  const outcome = await openSocket(sample.ws('/chat'), { headers: bearer(token) });
  assert.equal(outcome.kind, 'refused');
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.status, 401);
  secrets.assertAbsentFrom(outcome.body + JSON.stringify(outcome.headers), 'an upgrade refusal');
}

async function onLive(sample: RunningSample, token: string): Promise<SocketWitness> {
  const socket = await openWitnessed(sample.ws('/live'));
  await socket.authenticate(token);
  return socket;
}

// Nest's Logger is process-wide: every sample here may log into the capture of the one created last.
const logsOf = (...samples: Array<RunningSample | undefined>) => samples.map((sample) => sample?.logs.text() ?? '').join('\n');

describe('sample security: refresh tokens, logout, kick, jti', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  const secrets = new Secrets();
  before(async () => {
    sample = await startSample();
  });
  after(() => sample.close());

  describe('POST /auth/login', () => {
    it('sets an HttpOnly SameSite=Strict refresh_token cookie limited to /auth/refresh, after the access cookie', async () => {
      const response = await sample.post('/auth/login', { json: { username: 'alice', password: 'alice' } });
      assert.equal(response.status, 200);
      const [access, refreshCookie] = response.cookies;
      secrets.add(response.json().access_token, cookieValue(response.cookies, 'refresh_token'));
      assert.match(access!, /^access_token=/);
      assert.match(refreshCookie!, /^refresh_token=[A-Za-z0-9_-]{43};/);
      assert.match(refreshCookie!, /; Path=\/auth\/refresh(;|$)/);
      assert.match(refreshCookie!, /; HttpOnly(;|$)/);
      assert.match(refreshCookie!, /; SameSite=Strict(;|$)/);
      assert.doesNotMatch(refreshCookie!, /Secure/, 'Secure only over TLS');
      assert.ok(!response.body.includes(cookieValue(response.cookies, 'refresh_token')!), 'the refresh token stays in its cookie');
    });

    it('signs a random UUID jti and iat into every token, login and refresh alike', async () => {
      const first = await loginSession(sample, 'alice', secrets);
      const second = await loginSession(sample, 'alice', secrets);
      const third = await refreshed(sample, second.refreshToken, secrets);
      const claims = [first, second, third].map((session) => claimsOf(session.accessToken));
      for (const claim of claims) {
        assert.match(String(claim.jti), UUID);
        assert.equal(typeof claim.iat, 'number');
        assert.equal(claim.exp! - claim.iat!, 900);
        assert.match(String(claim.sid), UUID);
      }
      assert.equal(new Set(claims.map((claim) => claim.jti)).size, 3);
      assert.notEqual(claims[0]!.sid, claims[1]!.sid, 'each login is its own session');
      assert.equal(claims[1]!.sid, claims[2]!.sid, 'a refresh stays in its session');
    });
  });

  describe('POST /auth/refresh', () => {
    it('rotates: each refresh token works once and hands out its successor', async () => {
      const login = await loginSession(sample, 'alice', secrets);
      const first = await refreshed(sample, login.refreshToken, secrets);
      assert.notEqual(first.refreshToken, login.refreshToken);
      assert.equal(claimsOf(first.accessToken).sub, '1');
      const second = await refreshed(sample, first.refreshToken, secrets);
      assert.notEqual(second.refreshToken, first.refreshToken);
      const socket = await openOrFail(sample.ws('/chat'), { headers: bearer(second.accessToken) });
      assert.deepEqual((await request(socket, 'whoami')).data, { username: 'alice', roles: ['user'] });
      socket.close();
    });

    it('a reused refresh token ends its whole family: thief and victim both lose refreshing; the session tokens are revoked', async () => {
      const login = await loginSession(sample, 'alice', secrets);
      const other = await loginSession(sample, 'alice', secrets);
      const victim = await refreshed(sample, login.refreshToken, secrets);
      const victimSocket = await openWitnessed(sample.ws('/chat'), { headers: bearer(victim.accessToken) });
      const otherSocket = await openWitnessed(sample.ws('/chat'), { headers: bearer(other.accessToken) });

      // The thief replays the token the victim already spent.
      const replay = await refresh(sample, login.refreshToken);
      assertRefused(replay, 401, secrets);
      assert.match(replay.cookies.join('\n'), /^refresh_token=;.*Path=\/auth\/refresh/m, 'the spent cookie is cleared');
      assertRefused(await refresh(sample, victim.refreshToken), 401, secrets);

      const close = await victimSocket.closed;
      assert.equal(close.code, 4403);
      assert.equal(close.reason, 'Revoked');
      secrets.assertAbsentFrom(victimSocket.seen(close), 'a closed socket');
      await assertUpgradeRefused(sample, victim.accessToken, secrets);

      // Another login of the same user is another family.
      assert.deepEqual((await otherSocket.request('whoami')).data.username, 'alice');
      await refreshed(sample, other.refreshToken, secrets);
      await otherSocket.close();
    });

    it('answers 401 without a refresh cookie, with an unknown one, and for the access cookie alone', async () => {
      const login = await loginSession(sample, 'alice', secrets);
      assertRefused(await sample.post('/auth/refresh'), 401, secrets);
      assertRefused(await refresh(sample, 'A'.repeat(43)), 401, secrets);
      assertRefused(await sample.post('/auth/refresh', { headers: { Cookie: `access_token=${login.accessToken}` } }), 401, secrets);
      // None of those spent the real one.
      await refreshed(sample, login.refreshToken, secrets);
    });
  });

  describe('POST /auth/logout', () => {
    it("closes only that session's sockets (4403 Logged Out); its tokens then get 401 at the upgrade, /auth/ws-ticket and /auth/refresh", async () => {
      const session = await loginSession(sample, 'alice', secrets);
      const later = await refreshed(sample, session.refreshToken, secrets);
      const other = await loginSession(sample, 'alice', secrets);
      // Sockets of the session opened with its first token and with the refreshed one.
      const early = await openWitnessed(sample.ws('/chat'), { headers: bearer(session.accessToken) });
      const live = await onLive(sample, later.accessToken);
      const chat = await openWitnessed(sample.ws('/chat'), { headers: bearer(later.accessToken) });
      const otherSocket = await openWitnessed(sample.ws('/chat'), { headers: bearer(other.accessToken) });

      const response = await sample.post('/auth/logout', { headers: bearer(later.accessToken) });
      assert.equal(response.status, 204);
      assert.equal(response.body, '');
      assert.match(response.cookies.join('\n'), /^access_token=;.*Path=\//m);
      assert.match(response.cookies.join('\n'), /^refresh_token=;.*Path=\/auth\/refresh/m);

      for (const socket of [early, live, chat]) {
        const close = await socket.closed;
        assert.deepEqual([close.code, close.reason], [4403, 'Logged Out']);
        secrets.assertAbsentFrom(socket.seen(close), 'a closed socket');
      }
      for (const token of [session.accessToken, later.accessToken]) {
        await assertUpgradeRefused(sample, token, secrets);
        assertRefused(await sample.post('/auth/ws-ticket', { headers: bearer(token) }), 401, secrets);
      }
      assertRefused(await refresh(sample, later.refreshToken), 401, secrets);

      assert.equal(otherSocket.socket.readyState, WebSocket.OPEN);
      assert.deepEqual((await otherSocket.request('whoami')).data.username, 'alice');
      assert.equal((await sample.post('/auth/ws-ticket', { headers: bearer(other.accessToken) })).status, 200);
      await refreshed(sample, other.refreshToken, secrets);
      await otherSocket.close();
    });

    it('takes the access token from the cookie too, and refuses without a genuine token (401)', async () => {
      const session = await loginSession(sample, 'alice', secrets);
      assertRefused(await sample.post('/auth/logout'), 401, secrets);
      const forged = jwt.sign({ sub: '1', jti: 'x', sid: 'y' }, 'not-the-secret', { expiresIn: 60 });
      assertRefused(await sample.post('/auth/logout', { headers: bearer(forged) }), 401, secrets);
      const response = await sample.post('/auth/logout', { headers: { Cookie: `access_token=${session.accessToken}` } });
      assert.equal(response.status, 204);
      await assertUpgradeRefused(sample, session.accessToken, secrets);
      assertRefused(await refresh(sample, session.refreshToken), 401, secrets);
    });
  });

  describe('admin:kick', () => {
    it("closes the user's sockets, refuses their current tokens, tickets and refresh tokens; a new login works", async () => {
      const admin = await loginSession(sample, 'admin', secrets);
      const alice = await loginSession(sample, 'alice', secrets);
      const ticketResponse = await sample.post('/auth/ws-ticket', { headers: bearer(alice.accessToken) });
      assert.equal(ticketResponse.status, 200);
      const ticket = ticketResponse.json().ticket as string;
      secrets.add(ticket);
      const adminSocket = await openWitnessed(sample.ws('/chat'), { headers: bearer(admin.accessToken) });
      const aliceChat = await openWitnessed(sample.ws('/chat'), { headers: bearer(alice.accessToken) });
      const aliceLive = await onLive(sample, alice.accessToken);

      const reply = await adminSocket.request('admin:kick', { username: 'alice' });
      assert.deepEqual({ event: reply.event, data: reply.data }, { event: 'admin:kick', data: { username: 'alice', disconnected: 2 } });
      const kickedAt = Date.now();
      for (const socket of [aliceChat, aliceLive]) {
        const close = await socket.closed;
        assert.deepEqual([close.code, close.reason], [4403, 'Kicked']);
      }
      await assertUpgradeRefused(sample, alice.accessToken, secrets);
      const withTicket = await openSocket(sample.ws(`/chat?ticket=${encodeURIComponent(ticket)}`), { headers: { Origin: sample.origin } });
      assert.equal(withTicket.kind, 'refused');
      assert.equal(withTicket.kind === 'refused' && withTicket.status, 401);
      assertRefused(await sample.post('/auth/ws-ticket', { headers: bearer(alice.accessToken) }), 401, secrets);
      assertRefused(await refresh(sample, alice.refreshToken), 401, secrets);
      // The admin is untouched.
      assert.deepEqual((await adminSocket.request('whoami')).data.username, 'admin');

      // A revocation by subject covers credentials issued up to the kick's second, inclusive.
      await sleep(1000 - (kickedAt % 1000) + 20);
      const again = await loginSession(sample, 'alice', secrets);
      const socket = await openOrFail(sample.ws('/chat'), { headers: bearer(again.accessToken) });
      assert.deepEqual((await request(socket, 'whoami')).data.username, 'alice');
      await refreshed(sample, again.refreshToken, secrets);
      socket.close();
      await adminSocket.close();
    });
  });

  it('never logs a token, a refresh token or a ticket', () => {
    secrets.assertAbsentFrom(logsOf(sample), 'the log');
  });
});

describe('sample security: throttling /auth/login and /auth/ws-ticket', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  const secrets = new Secrets();
  before(async () => {
    sample = await startSample({ loginThrottle: { limit: 3, ttlSeconds: 60 }, ticketThrottle: { limit: 3, ttlSeconds: 60 } });
  });
  after(() => sample.close());

  const attempt = (username: string, password: string, localAddress?: string) => sample.post('/auth/login', { json: { username, password }, localAddress });

  it('login: past the limit per (address, username), 429 with Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) assertRefused(await attempt('alice', `guess-${i}`), 401, secrets);
    for (const password of ['guess-3', 'alice']) {
      const limited = await attempt('alice', password);
      assertRefused(limited, 429, secrets);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${limited.headers['retry-after']}`);
      assert.deepEqual(limited.cookies, []);
    }
  });

  it('login: another username from the same address, and the same username from another address, are unaffected', async () => {
    const admin = await attempt('admin', 'admin');
    assert.equal(admin.status, 200);
    const elsewhere = await attempt('alice', 'alice', '127.0.0.2');
    assert.equal(elsewhere.status, 200, elsewhere.body);
    secrets.add(admin.json().access_token, elsewhere.json().access_token);
  });

  it('ws-ticket: past the limit per address, 429 with Retry-After; another address is unaffected', async () => {
    const admin = await loginSession(sample, 'admin', secrets);
    for (let i = 0; i < 3; i++) {
      const issued = await sample.post('/auth/ws-ticket', { headers: bearer(admin.accessToken) });
      assert.equal(issued.status, 200);
      secrets.add(issued.json().ticket);
    }
    const limited = await sample.post('/auth/ws-ticket', { headers: bearer(admin.accessToken) });
    assertRefused(limited, 429, secrets);
    assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);
    const elsewhere = await sample.post('/auth/ws-ticket', { headers: bearer(admin.accessToken), localAddress: '127.0.0.2' });
    assert.equal(elsewhere.status, 200);
    secrets.add(elsewhere.json().ticket);
    // The refresh route has no limit of these two.
    await refreshed(sample, admin.refreshToken, secrets);
  });

  it('never logs a credential', () => {
    secrets.assertAbsentFrom(logsOf(sample), 'the log');
  });
});

describe('sample security: a chat broadcast and a reader that does not read', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  before(async () => {
    sample = await startSample();
  });
  after(() => sample.close());

  it('closes the stalled recipient with 1008 once over 1 MiB is queued for it; others get every message', async () => {
    const token = await sample.login('alice');
    const sender = await openOrFail(sample.ws('/chat'), { headers: bearer(token) });
    const reader = await openOrFail(sample.ws('/chat'), { headers: bearer(token) });
    const stalled = await openOrFail(sample.ws('/chat'), { headers: bearer(token) });
    // Stops reading from the TCP socket: the server's send queue for it grows.
    stalled.pause();
    const stalledClose = closed(stalled);

    const text = 'x'.repeat(512 * 1024);
    const rounds = 40;
    let received = 0;
    reader.on('message', () => received++);
    for (let i = 0; i < rounds; i++) {
      const echo = nextEvent(sender, 'chat', 5000);
      sender.send(JSON.stringify({ event: 'chat', data: { text } }));
      await echo;
    }
    await eventually(() => received === rounds, 5000, 'the reading recipient getting every message');

    stalled.resume();
    const close = await stalledClose;
    assert.deepEqual([close.code, close.reason], [1008, 'Too slow']);
    assert.equal(sender.readyState, WebSocket.OPEN);
    assert.equal(reader.readyState, WebSocket.OPEN);
    sender.close();
    reader.close();
  });
});

const redisBinary = RedisServer.find();

describe(
  'sample security: refresh tokens across two instances (REDIS_URL)',
  { skip: redisBinary ? false : 'redis-server not installed', timeout: 30_000 },
  () => {
    let redis: RedisServer;
    let a: RunningSample;
    let b: RunningSample;
    const secrets = new Secrets();
    before(async () => {
      redis = await RedisServer.start(redisBinary!);
      a = await startSample({ redisUrl: redis.url });
      b = await startSample({ redisUrl: redis.url });
    });
    after(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await redis?.stop();
    });

    it('a session logged in on one instance refreshes on the other; a reuse there ends it on both', async () => {
      const login = await loginSession(a, 'alice', secrets);
      const onB = await refreshed(b, login.refreshToken, secrets);
      const onA = await refreshed(a, onB.refreshToken, secrets);
      assertRefused(await refresh(b, onB.refreshToken), 401, secrets);
      assertRefused(await refresh(a, onA.refreshToken), 401, secrets);
    });

    it('logout on one instance closes the session socket on the other and ends its refresh everywhere', async () => {
      const session = await loginSession(a, 'alice', secrets);
      const other = await loginSession(a, 'alice', secrets);
      const onB = await openWitnessed(b.ws('/chat'), { headers: bearer(session.accessToken) });
      const otherOnB = await openWitnessed(b.ws('/chat'), { headers: bearer(other.accessToken) });
      assert.equal((await a.post('/auth/logout', { headers: bearer(session.accessToken) })).status, 204);
      const close = await onB.closed;
      assert.deepEqual([close.code, close.reason], [4403, 'Logged Out']);
      await assertUpgradeRefused(b, session.accessToken, secrets);
      assertRefused(await refresh(b, session.refreshToken), 401, secrets);
      assert.deepEqual((await otherOnB.request('whoami')).data.username, 'alice');
      await otherOnB.close();
    });

    it('never logs a credential', () => {
      secrets.assertAbsentFrom(logsOf(a, b), 'the log');
    });
  },
);
