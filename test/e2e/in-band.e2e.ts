import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import { WsConnections, type WsAuthOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { RawWebSocket } from '../support/raw-frames.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { startSample, SAMPLE_TEST_SECRET, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed, sleep, type SocketWitness, type WitnessedClose } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { PENDING_AUTH_TIMERS, SESSION_TIMERS, TimerCensus } from '../support/timer-census.js';
import { handMadeToken, signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket } from '../support/ws-client.js';

/** `delayMs` holds verification open (to send frames meanwhile); `ghost` is a user that no longer exists. */
const slowValidate: WsAuthOptions['validate'] = async (claims) => {
  if (typeof claims.delayMs === 'number') await sleep(claims.delayMs);
  return claims.username === 'ghost' ? null : claims;
};

/** A close that is a refusal: the expected code, and the credential neither echoed nor logged. */
function assertRefusedWith(app: { logs: { text(): string } }, witness: SocketWitness, close: WitnessedClose, code: number, token?: string) {
  assert.equal(close.code, code, `expected ${code}, got ${close.code} "${close.reason}" after ${JSON.stringify(witness.seen())}`);
  if (!token) return;
  assert.ok(!witness.seen(close).includes(token), 'the client must not get its token back');
  assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
}

async function assertTooBig(app: { logs: { text(): string } }, live: SocketWitness, token: string) {
  const close = await live.closed;
  assertRefusedWith(app, live, close, 1009, token);
  assert.equal(close.reason, 'Message Too Big');
  assert.deepEqual(live.frames, []);
}

/** An `authenticate` frame padded with an unknown field to exactly `bytes` bytes. */
function authenticateFrameOf(token: string, bytes: number): string {
  const bare = JSON.stringify({ event: 'authenticate', data: { token, pad: '' } });
  const frame = JSON.stringify({ event: 'authenticate', data: { token, pad: 'x'.repeat(bytes - Buffer.byteLength(bare)) } });
  assert.equal(Buffer.byteLength(frame), bytes);
  return frame;
}

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('in-band authentication', { timeout: 30_000 }, () => {
  // An app with no in-band options at all. Its idle socket waits out the default 5 s
  // timeout while the other suites run; the last suite looks at how it ended.
  let defaults: TestApp;
  let idle: SocketWitness;
  before(async () => {
    defaults = await startTestApp(appModule([makeRecordingGateway('DefaultLive', { path: '/live', wsAuth: { mode: 'in-band' } })]));
    idle = await openWitnessed(defaults.url('/live'));
  });
  after(() => defaults.close());

  describe('an in-band gateway', () => {
    const LIVE = 'InBandLive';
    const SLOW = 'InBandSlowLive';
    let app: TestApp;
    let connections: WsConnections;
    before(async () => {
      app = await startTestApp(
        appModule(
          [
            makeRecordingGateway(LIVE, { path: '/live', wsAuth: { mode: 'in-band', authTimeoutMs: 300 } }),
            makeRecordingGateway(SLOW, { path: '/slow-live', wsAuth: { mode: 'in-band', maxPreAuthBytes: 1024 } }),
            makeRecordingGateway('InBandChat', { path: '/chat' }),
          ],
          { jwt: { secret: TEST_SECRET }, validate: slowValidate, authTimeoutMs: 1500, maxPreAuthBytes: 4096 },
        ),
      );
      connections = app.app.get(WsConnections);
    });
    after(() => app.close());

    it('upgrades without a credential and tells Nest about the socket only once authenticate succeeds', async () => {
      const token = signToken({ sub: 'ib-ok', username: 'ib-ok', roles: ['user'] });
      const { exp } = jwt.decode(token) as { exp: number };
      const before = dispatchesOf(LIVE).length;
      const live = await openWitnessed(app.url('/live'));
      await sleep(50);
      assert.equal(dispatchesOf(LIVE).length, before, 'no handleConnection for a socket that has not authenticated');
      assert.equal(connections.count('ib-ok'), 0, 'a waiting socket is not an authenticated connection');

      const authenticated = await live.authenticate(token);
      assert.deepEqual(authenticated.data, { expiresAt: exp * 1000 });
      // handleConnection ran once, after authentication, and already saw the identity.
      assert.deepEqual(
        dispatchesOf(LIVE).filter((entry) => entry.subject === 'ib-ok'),
        [{ gateway: LIVE, event: 'connection', subject: 'ib-ok' }],
      );
      assert.equal(connections.count('ib-ok'), 1);

      const whoami = (await live.request('whoami')).data;
      assert.equal(whoami.user.username, 'ib-ok');
      assert.deepEqual(whoami.roles, ['user']);
      assert.equal(whoami.source, 'message');
      assert.equal(whoami.expiresAt, exp * 1000);
      assert.equal((await live.request('guarded')).data, 'ok');
      assert.deepEqual((await live.request('admin', undefined, 'exception')).data, { status: 'error', message: 'Forbidden', code: 'forbidden' });
      assert.deepEqual((await live.request('echo', { n: 1 })).data, { n: 1 });
      await live.close();
      await eventually(() => connections.count('ib-ok') === 0, 2000, 'the closed socket leaving WsConnections');
      assert.ok(!live.seen().includes(token));
      assert.ok(!app.logs.text().includes(token));
    });

    it('closes with 4408 when nothing arrives within the gateway authTimeoutMs, having told Nest nothing', async () => {
      const before = dispatchesOf(LIVE).length;
      const live = await openWitnessed(app.url('/live'));
      const close = await live.closed;
      assert.equal(close.code, 4408);
      assert.equal(close.reason, 'Authentication Timeout');
      const elapsed = close.at - live.opened;
      assert.ok(elapsed >= 250 && elapsed < 1000, `closed after ${elapsed} ms, expected about 300`);
      assert.deepEqual(live.frames, []);
      assert.equal(dispatchesOf(LIVE).length, before);
    });

    it('takes authTimeoutMs from the module when the gateway does not set it', async () => {
      const live = await openWitnessed(app.url('/slow-live'));
      const close = await live.closed;
      assert.equal(close.code, 4408);
      const elapsed = close.at - live.opened;
      assert.ok(elapsed >= 1400 && elapsed < 2300, `closed after ${elapsed} ms, expected about 1500`);
    });

    it('closes with 4401 on anything but authenticate first, and never dispatches it', async () => {
      const token = signToken({ sub: 'ib-first-frame' });
      const frames: Array<string | Buffer> = [
        JSON.stringify({ event: 'echo', data: 'hi' }),
        JSON.stringify({ event: 'whoami' }),
        JSON.stringify({ event: 'admin' }),
        'not json',
        'null',
        '[]',
        '"authenticate"',
        JSON.stringify({ event: 'authenticate' }),
        JSON.stringify({ event: 'authenticate', data: token }),
        JSON.stringify({ event: 'authenticate', data: { token: 42 } }),
        JSON.stringify({ event: 'authenticate', data: {} }),
        JSON.stringify({ event: 'AUTHENTICATE', data: { token } }),
        JSON.stringify({ event: 'authenticated', data: { token } }),
        // A valid authenticate frame, but binary: no dialogue in anything but text.
        Buffer.from(JSON.stringify({ event: 'authenticate', data: { token } })),
      ];
      const before = dispatchesOf(LIVE).length;
      await Promise.all(
        frames.map(async (frame) => {
          const live = await openWitnessed(app.url('/live'));
          live.socket.send(frame);
          const close = await live.closed;
          assertRefusedWith(app, live, close, 4401, token);
          assert.equal(close.reason, 'Unauthorized');
          assert.deepEqual(live.frames, [], `frames after ${String(frame)}`);
        }),
      );
      await sleep(50);
      assert.equal(dispatchesOf(LIVE).length, before, 'no handler and no handleConnection may run');
      assert.equal(connections.count('ib-first-frame'), 0);
    });

    it('closes with 4401 on a second frame sent while authenticate is being verified, and lets neither through', async () => {
      const slow = signToken({ sub: 'ib-second-frame', delayMs: 200 });
      const seconds = [
        JSON.stringify({ event: 'echo', data: 1 }),
        JSON.stringify({ event: 'authenticate', data: { token: signToken({ sub: 'ib-second-frame' }) } }),
      ];
      await Promise.all(
        seconds.map(async (second) => {
          const live = await openWitnessed(app.url('/live'));
          live.send('authenticate', { token: slow });
          await sleep(30);
          live.socket.send(second);
          const close = await live.closed;
          assertRefusedWith(app, live, close, 4401, slow);
          assert.deepEqual(live.frames, []);
        }),
      );
      // Long enough for the first verification to have finished: it must not revive the socket.
      await sleep(300);
      assert.deepEqual(
        dispatchesOf(LIVE).filter((entry) => entry.subject === 'ib-second-frame'),
        [],
      );
      assert.equal(connections.count('ib-second-frame'), 0);
    });

    it('closes with 4401 on a bad token, never echoing or logging it', async () => {
      const sub = 'ib-bad-token';
      const good = signToken({ sub });
      const [header, payload, signature] = good.split('.');
      const bad = {
        'wrong secret': signToken({ sub }, {}, 'another-secret-that-is-long-enough-0123456789'),
        expired: signToken({ sub }, { expiresIn: -10 }),
        'tampered claims': `${header}.${Buffer.from(JSON.stringify({ sub, roles: ['admin'], exp: 9_999_999_999 })).toString('base64url')}.${signature}`,
        'alg none': handMadeToken({ alg: 'none', typ: 'JWT' }, { sub, exp: 9_999_999_999 }),
        'not a jwt': `not-a-jwt-${payload.slice(0, 12)}`,
        'user gone (validate returns null)': signToken({ sub, username: 'ghost' }),
        'no exp': jwt.sign({ sub }, TEST_SECRET),
      };
      await Promise.all(
        Object.entries(bad).map(async ([what, token]) => {
          const live = await openWitnessed(app.url('/live'));
          live.send('authenticate', { token });
          const close = await live.closed;
          assert.equal(close.code, 4401, what);
          assertRefusedWith(app, live, close, 4401, token);
          assert.deepEqual(live.frames, [], what);
        }),
      );
      assert.deepEqual(
        dispatchesOf(LIVE).filter((entry) => entry.subject === sub),
        [],
      );
    });

    it('closes with 1009 on a frame over maxPreAuthBytes (module, then gateway option), accepts one of exactly that size, and lifts the limit once authenticated', async () => {
      const token = signToken({ sub: 'ib-size' });
      const cases = [
        { path: '/live', bytes: 4096, code: undefined },
        { path: '/live', bytes: 4097, code: 1009 },
        { path: '/slow-live', bytes: 1024, code: undefined },
        { path: '/slow-live', bytes: 1025, code: 1009 },
      ];
      for (const { path, bytes, code } of cases) {
        const live = await openWitnessed(app.url(path));
        live.socket.send(authenticateFrameOf(token, bytes));
        if (code === undefined) {
          await live.next('authenticated');
          const big = 'x'.repeat(64 * 1024);
          assert.equal((await live.request('echo', big)).data, big);
          await live.close();
          continue;
        }
        await assertTooBig(app, live, token);
      }
    });

    it('closes with 1009 as soon as a frame in progress passes maxPreAuthBytes, without buffering the rest', async () => {
      const raw = await RawWebSocket.open(app.port, '/slow-live');
      try {
        raw.startTextFrame(1024 * 1024);
        const sentAt = Date.now();
        raw.writePayload(Buffer.alloc(64 * 1024, 0x20));
        const close = await raw.closed();
        assert.equal(close?.code, 1009, `got ${JSON.stringify(close)}`);
        assert.ok(close!.at - sentAt < 500, `closed ${close!.at - sentAt} ms after 64 KiB of a 1 MiB frame (limit 1024 bytes)`);
      } finally {
        raw.destroy();
      }
    });

    it('checks Host and Origin at the upgrade, with the handshake rule', async () => {
      const crossSite = await openSocket(app.url('/live'), { headers: { Origin: 'http://evil.example' } });
      assert.equal(crossSite.kind, 'refused');
      if (crossSite.kind === 'refused') {
        assert.equal(crossSite.status, 403);
        assert.deepEqual(JSON.parse(crossSite.body), { error: 'forbidden', reason: 'origin_not_allowed' });
      }
      const sameSite = await openWitnessed(app.url('/live'), { headers: { Origin: `http://127.0.0.1:${app.port}` } });
      await sameSite.close();
      const noHost = await rawUpgrade(app.port, upgradeRequest('/live').replace(/Host: [^\r]*\r\n/, ''));
      assert.equal(noHost.status, 400);
    });

    it('neither checks nor trusts a credential sent with the upgrade', async () => {
      const token = signToken({ sub: 'ib-header', roles: ['admin'] });
      const before = dispatchesOf(LIVE).length;
      const upgrades: Array<Record<string, string>> = [
        { Authorization: 'Bearer not.a.jwt' },
        { Authorization: `Bearer ${token}` },
        { Cookie: `access_token=${token}` },
      ];
      for (const headers of upgrades) {
        const live = await openWitnessed(app.url('/live'), { headers });
        live.send('whoami');
        const close = await live.closed;
        assertRefusedWith(app, live, close, 4401, token);
        assert.deepEqual(live.frames, []);
      }
      assert.equal(dispatchesOf(LIVE).length, before);
      // The handshake gateway of the same app still requires its credential at the upgrade.
      const chat = await openSocket(app.url('/chat'));
      assert.equal(chat.kind === 'refused' && chat.status, 401);
    });

    it('clears the timer of a waiting socket however it stops waiting, and opens one session timer per connection', async () => {
      const census = new TimerCensus([PENDING_AUTH_TIMERS, SESSION_TIMERS]).start();
      try {
        const sockets = await Promise.all(Array.from({ length: 4 }, () => openWitnessed(app.url('/slow-live'))));
        assert.equal(await census.settled(PENDING_AUTH_TIMERS), 4);
        const [authenticates, badToken, leaves, sendsGarbage] = sockets;
        await authenticates.authenticate(signToken({ sub: 'ib-timers' }));
        badToken.send('authenticate', { token: 'bad' });
        sendsGarbage.socket.send('garbage');
        await Promise.all([leaves.close(), badToken.closed, sendsGarbage.closed]);
        await eventually(() => census.count(PENDING_AUTH_TIMERS) === 0, 1000, 'pending timers cleared');
        assert.equal(await census.settled(SESSION_TIMERS), 1, 'the authenticated socket has its expiry timer');
        await authenticates.close();
        await eventually(() => census.count(SESSION_TIMERS) === 0, 1000, 'session timer cleared');
        assert.equal(connections.count('ib-timers'), 0);
      } finally {
        census.stop();
      }
    });
  });

  describe('the pending-authentication bound', () => {
    let app: TestApp;
    const token = (sub: string, claims: Record<string, unknown> = {}) => signToken({ sub, ...claims });
    before(async () => {
      app = await startTestApp(
        appModule(
          [
            makeRecordingGateway('BoundLive', { path: '/live', wsAuth: { mode: 'in-band' } }),
            makeRecordingGateway('BoundLive2', { path: '/live-2', wsAuth: { mode: 'in-band', authTimeoutMs: 300 } }),
            makeRecordingGateway('BoundChat', { path: '/chat' }),
          ],
          { jwt: { secret: TEST_SECRET }, validate: slowValidate, maxPendingAuthentications: 2 },
        ),
      );
    });
    after(() => app.close());

    async function assertFull(path = '/live') {
      const third = await openSocket(app.url(path));
      if (third.kind === 'open') third.socket.close();
      assert.equal(third.kind, 'refused', JSON.stringify(third));
      if (third.kind !== 'refused') return;
      assert.equal(third.status, 503);
      assert.deepEqual(JSON.parse(third.body), { error: 'unavailable', reason: 'too_many_pending' });
      assert.equal(third.headers['www-authenticate'], undefined);
    }

    /** The server frees a slot when its side of the socket closes, a moment after the client's. */
    async function acceptedSoon(path = '/live'): Promise<SocketWitness> {
      let opened: SocketWitness | undefined;
      await eventually(
        async () => {
          opened = await openWitnessed(app.url(path)).catch(() => undefined);
          return opened !== undefined;
        },
        2000,
        `an upgrade on ${path} being accepted`,
      );
      return opened!;
    }

    it('answers 503 beyond maxPendingAuthentications, across in-band gateways, and leaves handshake gateways alone', async () => {
      const first = await openWitnessed(app.url('/live'));
      const second = await openWitnessed(app.url('/live'));
      await assertFull('/live');
      await assertFull('/live-2');
      const chat = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token('bound-chat')}` } });
      assert.equal((await chat.request('whoami')).data.subject, 'bound-chat');
      assert.ok(app.logs.lines.includes('debug Refused WebSocket upgrade: too_many_pending (503) from 127.0.0.1 WsAuth'), app.logs.text());
      // The waiting sockets are unharmed by the refusals.
      await first.authenticate(token('bound-1'));
      await second.authenticate(token('bound-2'));
      await Promise.all([first.close(), second.close(), chat.close()]);
    });

    it('frees a slot when a waiting socket authenticates', async () => {
      const first = await openWitnessed(app.url('/live'));
      const second = await openWitnessed(app.url('/live'));
      await assertFull();
      await first.authenticate(token('bound-auth'));
      const third = await openWitnessed(app.url('/live'));
      await assertFull();
      await Promise.all([first.close(), second.close(), third.close()]);
    });

    it('frees a slot when a waiting socket closes, times out, fails or leaves during verification', async () => {
      const leaves = await openWitnessed(app.url('/live'));
      const timesOut = await openWitnessed(app.url('/live-2'));
      await assertFull();
      await leaves.close();
      const afterLeave = await acceptedSoon();
      assert.equal((await timesOut.closed).code, 4408);
      const afterTimeout = await acceptedSoon();
      await assertFull();

      afterLeave.send('authenticate', { token: 'bad' });
      assert.equal((await afterLeave.closed).code, 4401);
      const afterBadToken = await acceptedSoon();
      await assertFull();

      // Gone while validate() is still running: the slot must not stay taken.
      afterTimeout.send('authenticate', { token: token('bound-gone', { delayMs: 150 }) });
      await sleep(20);
      afterTimeout.socket.terminate();
      const afterGone = await acceptedSoon();
      // Once the abandoned verification has finished, its slot must not be freed a second time.
      await sleep(200);
      await assertFull();
      await Promise.all([afterBadToken.close(), afterGone.close()]);
      const fresh = [await acceptedSoon(), await acceptedSoon()];
      await Promise.all(fresh.map((socket) => socket.close()));
    });
  });

  describe('defaults', () => {
    // Nest's logger override is process-wide and went to the apps created since; take it back
    // so the leak checks below search what this app logs.
    before(() => Logger.overrideLogger(defaults.logs));

    it('waits 5000 ms for authenticate by default, then closes with 4408', async () => {
      const close = await idle.closed;
      assert.equal(close.code, 4408);
      const elapsed = close.at - idle.opened;
      assert.ok(elapsed >= 4900 && elapsed < 5800, `closed after ${elapsed} ms`);
    });

    it('closes with 1009 on a frame over 16 KiB by default, and accepts one of exactly 16 KiB', async () => {
      const token = signToken({ sub: 'ib-default-size' });
      const fits = await openWitnessed(defaults.url('/live'));
      fits.socket.send(authenticateFrameOf(token, 16 * 1024));
      await fits.next('authenticated');
      await fits.close();
      const tooBig = await openWitnessed(defaults.url('/live'));
      tooBig.socket.send(authenticateFrameOf(token, 16 * 1024 + 1));
      await assertTooBig(defaults, tooBig, token);
    });

    it('lets 1000 sockets wait at once by default and refuses the next with 503', async () => {
      // From 40 loopback addresses, 25 each: under the per-address cap (32), so the global cap
      // is the one reached. Linux routes all of 127.0.0.0/8 to the loopback interface.
      const waiting: WebSocket[] = [];
      for (let batch = 0; batch < 10; batch++) {
        waiting.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => openFrom(`127.0.1.${1 + ((batch * 100 + i) % 40)}`)))));
      }
      const next = await openSocket(defaults.url('/live'));
      assert.equal(next.kind === 'refused' && next.status, 503);
      for (const socket of waiting) socket.terminate();
    });

    function openFrom(localAddress: string): Promise<WebSocket> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(defaults.url('/live'), { localAddress });
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
        socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
      });
    }
  });

  describe('the sample /live gateway', () => {
    let sample: RunningSample;
    before(async () => {
      sample = await startSample({ authTimeoutMs: 300 });
    });
    after(() => sample.close());

    it('serves the chat events once the client sends authenticate first', async () => {
      const token = await sample.login('alice');
      const live = await openWitnessed(sample.ws('/live'), { headers: { Origin: sample.origin } });
      const { exp } = jwt.decode(token) as { exp: number };
      assert.deepEqual((await live.authenticate(token)).data, { expiresAt: exp * 1000 });
      assert.deepEqual((await live.request('whoami')).data, { username: 'alice', roles: ['user'] });
      assert.deepEqual((await live.request('chat', { text: 'hi', from: 'admin' })).data, { from: 'alice', text: 'hi' });
      await live.close();
      assert.ok(!sample.logs.text().includes(token));
    });

    it('closes with 4408 after authTimeoutMs, 4401 on another event first or a token of an unknown user, and 403 cross-site', async () => {
      const idle = await openWitnessed(sample.ws('/live'));
      const early = await openWitnessed(sample.ws('/live'));
      early.send('whoami');
      const ghost = jwt.sign({ sub: '999', username: 'ghost', roles: ['admin'] }, SAMPLE_TEST_SECRET, { expiresIn: 60 });
      const unknown = await openWitnessed(sample.ws('/live'));
      unknown.send('authenticate', { token: ghost });
      assert.equal((await early.closed).code, 4401);
      const unknownClose = await unknown.closed;
      assertRefusedWith(sample, unknown, unknownClose, 4401, ghost);
      const idleClose = await idle.closed;
      assert.equal(idleClose.code, 4408);
      assert.ok(idleClose.at - idle.opened < 1000);
      const crossSite = await openSocket(sample.ws('/live'), { headers: { Origin: 'http://127.0.0.1:1' } });
      assert.equal(crossSite.kind === 'refused' && crossSite.status, 403);
    });

    it('does not broadcast chat to a socket that has not authenticated', async () => {
      const token = await sample.login('alice');
      const listener = await openWitnessed(sample.ws('/live'));
      const alice = await openWitnessed(sample.ws('/live'));
      await alice.authenticate(token);
      await alice.request('chat', { text: 'for members only' });
      await sleep(50);
      assert.equal(listener.socket.readyState, 1, 'the listener must still be waiting when the chat goes out');
      const leaked = listener.frames.map((frame) => frame.text);
      await Promise.all([listener.close(), alice.close()]);
      assert.deepEqual(leaked, [], 'an unauthenticated socket received chat');
    });
  });
});
