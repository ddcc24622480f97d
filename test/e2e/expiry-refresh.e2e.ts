import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { WsConnections, WsTicketService, type WsAuthOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { startSample, SAMPLE_TEST_SECRET, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed, sleep, type SocketWitness, type WitnessedClose } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { SESSION_TIMERS, TimerCensus } from '../support/timer-census.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

const WARNING_MS = 1000;
// Timers fire a little late, never early; Date.now() and the timer clock may differ by a few ms.
const EARLY_MS = 20;
const LATE_MS = 300;

const options: WsAuthOptions = {
  jwt: { secret: TEST_SECRET },
  validate: (claims) => (claims.username === 'ghost' ? null : claims),
  expiryWarningMs: WARNING_MS,
  authTimeoutMs: 300,
};

function expiresAtOf(token: string): number {
  return (jwt.decode(token) as { exp: number }).exp * 1000;
}

/** A token expiring `seconds` from now, to the second as real tokens do. */
function tokenFor(sub: string, seconds: number, claims: Record<string, unknown> = {}): string {
  return signToken({ sub, username: sub, ...claims }, { expiresIn: seconds });
}

/**
 * A token whose `exp` is between 700 and 1000 ms away: inside a 1000 ms warning window from
 * the start, and still valid for long enough to be verified.
 */
async function tokenInsideTheWindow(sub: string): Promise<string> {
  while (Date.now() % 1000 >= 300) await sleep(10);
  return tokenExpiringAt(sub, Math.floor(Date.now() / 1000) + 1);
}

function tokenExpiringAt(sub: string, exp: number): string {
  return jwt.sign({ sub, username: sub, roles: ['user'], exp }, TEST_SECRET);
}

function within(at: number, expected: number, what: string) {
  assert.ok(at >= expected - EARLY_MS && at <= expected + LATE_MS, `${what} ${at - expected} ms off (expected within -${EARLY_MS}/+${LATE_MS})`);
}

/** The whole life of a socket whose token runs out: one warning, then 4401 at `exp`. */
async function assertExpires(app: { logs: { text(): string } }, socket: SocketWitness, token: string, warningMs = WARNING_MS) {
  const expiresAt = expiresAtOf(token);
  const close = await socket.closed;
  const warnings = socket.events('token_expiring');
  if (warningMs > 0) {
    assert.equal(warnings.length, 1, `expected one warning, got ${JSON.stringify(socket.frames.map((frame) => frame.text))}`);
    assert.deepEqual(warnings[0].data, { expiresAt });
    within(warnings[0].at, Math.max(expiresAt - warningMs, socket.opened), 'token_expiring');
  } else {
    assert.deepEqual(warnings, []);
  }
  assertClosedAtExpiry(app, socket, close, token);
}

function assertClosedAtExpiry(app: { logs: { text(): string } }, socket: SocketWitness, close: WitnessedClose, token: string) {
  assert.equal(close.code, 4401);
  assert.equal(close.reason, 'Token Expired');
  within(close.at, expiresAtOf(token), 'close');
  assert.ok(!socket.seen(close).includes(token), 'the client must not get its token back');
  assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
}

async function assertClosedWith(app: { logs: { text(): string } }, socket: SocketWitness, code: number, token?: string) {
  const close = await socket.closed;
  assert.equal(close.code, code, `got ${close.code} "${close.reason}"`);
  if (token) {
    assert.ok(!socket.seen(close).includes(token), 'the client must not get its token back');
    assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
  }
  return close;
}

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('token expiry and refresh on open sockets', { timeout: 30_000 }, () => {
  let defaults: TestApp;
  let app: TestApp;
  let connections: WsConnections;
  before(async () => {
    // Created first: Nest's logger override is process-wide, so the app created last (the
    // one whose log is searched for tokens) captures what both log.
    defaults = await startTestApp(appModule([makeRecordingGateway('ExpDefaults', { path: '/chat' })]));
    app = await startTestApp(
      appModule(
        [
          makeRecordingGateway('ExpChat', { path: '/chat' }),
          makeRecordingGateway('ExpLive', { path: '/live', wsAuth: { mode: 'in-band' } }),
          makeRecordingGateway('ExpQuiet', { path: '/quiet', wsAuth: { expiryWarningMs: 0 } }),
          makeRecordingGateway('ExpEarly', { path: '/early', wsAuth: { expiryWarningMs: 10_000 } }),
        ],
        options,
      ),
    );
    connections = app.app.get(WsConnections);
  });
  after(async () => {
    await app.close();
    await defaults.close();
  });

  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

  describe('expiry', { concurrency: true }, () => {
    const sources: Array<[string, (token: string) => Promise<SocketWitness>]> = [
      ['the Authorization header', (token) => openWitnessed(app.url('/chat'), bearer(token))],
      ['the cookie', (token) => openWitnessed(app.url('/chat'), { headers: { Cookie: `access_token=${token}` } })],
      ['the bearer subprotocol', (token) => openWitnessed(app.url('/chat'), { protocols: ['app', `bearer.${token}`] })],
      [
        'a ticket',
        async (token) => {
          const { ticket } = await app.app.get(WsTicketService).issueForToken(token, { headers: {} } as IncomingMessage);
          return openWitnessed(app.url(`/chat?ticket=${ticket}`));
        },
      ],
      [
        'in-band authenticate',
        async (token) => {
          const socket = await openWitnessed(app.url('/live'));
          await socket.authenticate(token);
          return socket;
        },
      ],
    ];
    for (const [source, open] of sources) {
      it(`warns expiryWarningMs before exp and closes with 4401 at exp, after ${source}`, async () => {
        const sub = `exp-${source}`;
        const token = tokenFor(sub, 3);
        const socket = await open(token);
        assert.equal(connections.count(sub), 1);
        assert.equal((await socket.request('whoami')).data.expiresAt, expiresAtOf(token));
        await assertExpires(app, socket, token);
        const expected = source === 'in-band authenticate' ? ['authenticated', 'whoami', 'token_expiring'] : ['whoami', 'token_expiring'];
        assert.deepEqual(
          socket.frames.map((frame) => frame.event),
          expected,
        );
        await eventually(() => connections.count(sub) === 0, 1000, 'the expired socket leaving WsConnections');
      });
    }

    it('warns at once when the token is already inside the window (gateway expiryWarningMs)', async () => {
      const token = tokenFor('exp-early', 3);
      const socket = await openWitnessed(app.url('/early'), bearer(token));
      const warning = await socket.next('token_expiring', 500);
      assert.ok(warning.at - socket.opened < 150, `warned ${warning.at - socket.opened} ms after opening`);
      await assertExpires(app, socket, token, 10_000);
    });

    it('warns at once after `authenticated` when an in-band token is already inside the window', async () => {
      const token = await tokenInsideTheWindow('exp-in-band-window');
      const socket = await openWitnessed(app.url('/live'));
      const authenticated = await socket.authenticate(token);
      const warning = await socket.next('token_expiring', 500);
      assert.ok(warning.at - authenticated.at < 100, `warned ${warning.at - authenticated.at} ms after authenticated`);
      await assertExpires(app, socket, token);
      assert.deepEqual(
        socket.frames.map((frame) => frame.event),
        ['authenticated', 'token_expiring'],
      );
    });

    it('sends no warning when the gateway sets expiryWarningMs to 0, and still closes at exp', async () => {
      const token = tokenFor('exp-quiet', 2);
      const socket = await openWitnessed(app.url('/quiet'), bearer(token));
      await assertExpires(app, socket, token, 0);
      assert.deepEqual(socket.frames, []);
    });

    it('warns 60 s before exp by default', async () => {
      // exp 61-62 s away: the default warning is due in 1-2 s.
      const token = tokenExpiringAt('exp-default', Math.floor(Date.now() / 1000) + 62);
      const socket = await openWitnessed(defaults.url('/chat'), bearer(token));
      const warning = await socket.next('token_expiring', 2500);
      assert.deepEqual(warning.data, { expiresAt: expiresAtOf(token) });
      within(warning.at, expiresAtOf(token) - 60_000, 'token_expiring');
      await socket.close();
    });
  });

  describe('refresh', { concurrency: true }, () => {
    it('replaces claims, roles and expiry on a handshake socket, which outlives the first token', async () => {
      const first = tokenFor('refresh-up', 2, { username: 'before', roles: ['user'] });
      const socket = await openWitnessed(app.url('/chat'), bearer(first));
      assert.equal((await socket.request('admin', undefined, 'exception')).data.code, 'forbidden');
      const second = tokenFor('refresh-up', 60, { username: 'after', roles: ['user', 'admin'] });
      assert.deepEqual((await socket.authenticate(second)).data, { expiresAt: expiresAtOf(second) });
      const whoami = (await socket.request('whoami')).data;
      assert.equal(whoami.user.username, 'after');
      assert.deepEqual(whoami.roles, ['user', 'admin']);
      assert.equal(whoami.expiresAt, expiresAtOf(second));
      assert.equal((await socket.request('admin')).data, 'ok');
      // Past the first token's exp (and its warning time): neither fires any more.
      await sleep(expiresAtOf(first) - Date.now() + LATE_MS);
      assert.equal((await socket.request('guarded')).data, 'ok');
      assert.deepEqual(socket.events('token_expiring'), []);
      assert.equal(connections.list('refresh-up')[0]?.identity.expiresAt, expiresAtOf(second));
      await socket.close();
      assert.ok(!socket.seen().includes(second) && !socket.seen().includes(first));
    });

    it('takes roles away on an in-band socket', async () => {
      const first = tokenFor('refresh-down', 2, { roles: ['user', 'admin'] });
      const socket = await openWitnessed(app.url('/live'));
      await socket.authenticate(first);
      assert.equal((await socket.request('admin')).data, 'ok');
      const second = tokenFor('refresh-down', 60, { roles: ['user'] });
      assert.deepEqual((await socket.authenticate(second)).data, { expiresAt: expiresAtOf(second) });
      assert.deepEqual((await socket.request('admin', undefined, 'exception')).data, { status: 'error', message: 'Forbidden', code: 'forbidden' });
      await sleep(expiresAtOf(first) - Date.now() + LATE_MS);
      assert.deepEqual((await socket.request('whoami')).data.roles, ['user']);
      assert.deepEqual(socket.events('token_expiring'), []);
      await socket.close();
    });

    it('re-arms the warning: a refreshed socket is warned again and closed at the new exp', async () => {
      const first = tokenFor('refresh-again', 2);
      const socket = await openWitnessed(app.url('/chat'), bearer(first));
      assert.deepEqual((await socket.next('token_expiring', 2500)).data, { expiresAt: expiresAtOf(first) });
      const second = tokenFor('refresh-again', 3);
      await socket.authenticate(second);
      const close = await socket.closed;
      const warnings = socket.events('token_expiring');
      assert.deepEqual(
        warnings.map((frame) => frame.data),
        [{ expiresAt: expiresAtOf(first) }, { expiresAt: expiresAtOf(second) }],
      );
      within(warnings[1].at, expiresAtOf(second) - WARNING_MS, 'second token_expiring');
      assertClosedAtExpiry(app, socket, close, second);
    });

    it('closes with 4403 when neither token names a subject, rather than let one principal become another', async () => {
      const alice = jwt.sign({ username: 'no-sub-alice', roles: ['user'] }, TEST_SECRET, { expiresIn: 60 });
      const bob = jwt.sign({ username: 'no-sub-bob', roles: ['user', 'admin'] }, TEST_SECRET, { expiresIn: 60 });
      const socket = await openWitnessed(app.url('/chat'), bearer(alice));
      socket.send('authenticate', { token: bob });
      const close = await Promise.race([socket.closed, sleep(500).then(() => undefined)]);
      const username = close ? undefined : (await socket.request('whoami')).data.user.username;
      await socket.close();
      assert.equal(close?.code, 4403, `the socket stayed open as ${username}`);
    });

    for (const path of ['/chat', '/live']) {
      it(`closes with 4403 on a token for another subject (${path})`, async () => {
        const own = tokenFor(`refresh-owner${path}`, 60);
        const socket = path === '/chat' ? await openWitnessed(app.url(path), bearer(own)) : await openWitnessed(app.url(path));
        if (path === '/live') await socket.authenticate(own);
        const other = tokenFor(`refresh-other${path}`, 60, { roles: ['admin'] });
        socket.send('authenticate', { token: other });
        const close = await assertClosedWith(app, socket, 4403, other);
        assert.equal(close.reason, 'Forbidden');
        assert.deepEqual(socket.events('authenticated').length, path === '/live' ? 1 : 0);
        await eventually(() => connections.count(`refresh-owner${path}`) === 0, 1000, 'the closed socket leaving WsConnections');
        assert.equal(connections.count(`refresh-other${path}`), 0);
      });

      it(`closes with 4401 on an invalid or expired refresh token (${path})`, async () => {
        const sub = `refresh-bad${path}`;
        const refreshes: Record<string, unknown> = {
          expired: { token: tokenFor(sub, -5) },
          'wrong secret': { token: signToken({ sub }, {}, 'another-secret-that-is-long-enough-0123456789') },
          'user gone': { token: tokenFor(sub, 60, { username: 'ghost' }) },
          garbage: { token: 'not-a-jwt' },
          'no token': {},
          'not an object': tokenFor(sub, 60),
        };
        await Promise.all(
          Object.entries(refreshes).map(async ([what, data]) => {
            const own = tokenFor(sub, 60);
            const socket = path === '/chat' ? await openWitnessed(app.url(path), bearer(own)) : await openWitnessed(app.url(path));
            if (path === '/live') await socket.authenticate(own);
            socket.send('authenticate', data);
            const secret = typeof data === 'string' ? data : (data as { token?: string }).token;
            const close = await assertClosedWith(app, socket, 4401, secret);
            assert.equal(close.reason, 'Unauthorized', what);
          }),
        );
        await eventually(() => connections.count(sub) === 0, 1000, 'the closed sockets leaving WsConnections');
      });
    }
  });

  describe('per-connection timers', () => {
    it('keeps one shared unref()d timer for every authenticated connection, across refreshes, and none once all are closed', async () => {
      const census = new TimerCensus([SESSION_TIMERS]).start();
      const refTimeouts = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
      const refBaseline = refTimeouts();
      try {
        const sockets = await Promise.all([
          ...Array.from({ length: 3 }, (_, i) => openWitnessed(app.url('/chat'), bearer(tokenFor(`timers-${i}`, 300)))),
          ...Array.from({ length: 3 }, async (_, i) => {
            const socket = await openWitnessed(app.url('/live'));
            await socket.authenticate(tokenFor(`timers-${i + 3}`, 300));
            return socket;
          }),
        ]);
        assert.equal(await census.settled(), 1, 'one timer serves all six deadlines');
        assert.equal(connections.count(), 6);
        // Unref()d, so open sockets never hold a stopping process: this API lists only ref'd timers.
        assert.ok(refTimeouts() - refBaseline < 6, `${refTimeouts() - refBaseline} more ref'd timers with 6 sockets open`);
        await sockets[0].authenticate(tokenFor('timers-0', 600));
        await sockets[4].authenticate(tokenFor('timers-4', 600));
        assert.equal(await census.settled(), 1, 'a refresh moves a deadline, not the timer count');
        await Promise.all(sockets.map((socket) => socket.close()));
        await eventually(() => census.count() === 0 && connections.count() === 0, 1000, 'timers cleared and connections forgotten');

        // Sockets the server closes at expiry leave nothing behind either.
        const expiring = await Promise.all([
          openWitnessed(app.url('/chat'), bearer(await tokenInsideTheWindow('timers-exp'))),
          openWitnessed(app.url('/quiet'), bearer(await tokenInsideTheWindow('timers-exp'))),
        ]);
        assert.equal(await census.settled(), 1);
        await Promise.all(expiring.map((socket) => socket.closed));
        await eventually(() => census.count() === 0 && connections.count() === 0, 1000, 'timers cleared after expiry');
      } finally {
        census.stop();
      }
    });
  });
});

describe('expiry and refresh in the sample', { concurrency: true, timeout: 30_000 }, () => {
  let sample: RunningSample;
  before(async () => {
    sample = await startSample({ accessTokenTtlSeconds: 3, expiryWarningMs: WARNING_MS, authTimeoutMs: 300 });
  });
  after(() => sample.close());

  const openChat = (token: string) => openWitnessed(sample.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
  async function openLive(token: string) {
    const socket = await openWitnessed(sample.ws('/live'));
    await socket.authenticate(token);
    return socket;
  }

  for (const [path, open] of [
    ['/chat', openChat],
    ['/live', openLive],
  ] as const) {
    it(`warns and closes with 4401 when a login token runs out (${path})`, async () => {
      const token = await sample.login('alice');
      const socket = await open(token);
      await assertExpires(sample, socket, token);
    });

    it(`keeps a socket refreshed with a new login token open past the first exp (${path})`, async () => {
      const first = await sample.login('alice');
      const socket = await open(first);
      await socket.next('token_expiring', 2500);
      const second = jwt.sign({ sub: '1', username: 'alice', roles: ['user'] }, SAMPLE_TEST_SECRET, { expiresIn: 60 });
      assert.deepEqual((await socket.authenticate(second)).data, { expiresAt: expiresAtOf(second) });
      await sleep(expiresAtOf(first) - Date.now() + LATE_MS);
      assert.deepEqual((await socket.request('whoami')).data, { username: 'alice', roles: ['user'] });
      await socket.close();
    });

    it(`closes with 4403 when alice refreshes with admin's token (${path})`, async () => {
      const socket = await open(await sample.login('alice'));
      const adminToken = await sample.login('admin');
      socket.send('authenticate', { token: adminToken });
      await assertClosedWith(sample, socket, 4403, adminToken);
    });
  }
});
