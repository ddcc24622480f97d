import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExecutionContext } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { getWsIdentity, WsAuthGuard, WsConnections } from '../../lib/index.js';
import { closedWithin, within } from '../support/close-deadline.js';
import { appModule } from '../support/fixtures.js';
import { RawWebSocket } from '../support/raw-frames.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

// The grace a peer gets to answer a close frame before its TCP socket is destroyed. Timers
// fire late, never early; the upper bound only has to tell it from ws's own 30 s.
const MODULE_GRACE_MS = 300;
const GATEWAY_GRACE_MS = 700;
const DEFAULT_GRACE_MS = 1000;
const EARLY_MS = 50;
const LATE_MS = 1200;

const REASONS = {
  revoked: 'Revoked',
  logged_out: 'Logged Out',
  kicked: 'Kicked',
  banned: 'Banned',
  credentials_changed: 'Credentials Changed',
} as const;

const WRONG_SECRET = 'another-secret-that-is-long-enough-0123456789';

type RawClose = { code: number; reason: string; at: number };

/** Handler calls (not connect/disconnect) a gateway has recorded so far. */
function handled(gateway: string): number {
  return dispatchesOf(gateway).filter((entry) => entry.event !== 'connection' && entry.event !== 'disconnect').length;
}

/**
 * What WsAuthGuard says of a message from `client`, asked the way Nest asks it. A closing
 * socket must be refused whatever identity it still carries.
 */
async function guardAllows(client: WebSocket): Promise<boolean> {
  const args = [client, undefined];
  const context = {
    getType: () => 'ws',
    getArgs: () => args,
    getArgByIndex: (index: number) => args[index],
    getClass: () => Object,
    getHandler: () => guardAllows,
    switchToWs: () => ({ getClient: () => client, getData: () => undefined, getPattern: () => 'guarded' }),
    switchToHttp: () => ({}),
    switchToRpc: () => ({}),
  } as unknown as ExecutionContext;
  try {
    return (await new WsAuthGuard().canActivate(context)) === true;
  } catch {
    return false;
  }
}

/** The server-side socket of the one connection `subject` has on this instance. */
function serverSocketOf(connections: WsConnections, subject: string): WebSocket {
  const list = connections.list(subject);
  assert.equal(list.length, 1, `expected one connection of ${subject}, found ${list.length}`);
  return list[0].client;
}

function assertNoSecret(app: TestApp | TestApp[], seen: string, secrets: string[]) {
  const logs = (Array.isArray(app) ? app : [app]).map((one) => one.logs.text()).join('\n');
  for (const secret of secrets) {
    assert.ok(!seen.includes(secret), 'the peer must not get a credential back');
    assert.ok(!logs.includes(secret), 'the log must not contain a credential');
  }
}

/**
 * Plays a peer that ignores the close frame: it keeps sending every kind of frame, including
 * a fresh valid `authenticate` that must not revive the connection, until TCP closes.
 */
async function keepSendingUntilTcpCloses(raw: RawWebSocket, fresh: string, close: RawClose, graceMs: number): Promise<number> {
  let closedAt: number | undefined;
  void raw.tcpClosed().then((at) => (closedAt = at));
  const deadline = close.at + graceMs + LATE_MS;
  for (let round = 0; round < 200 && closedAt === undefined && Date.now() < deadline; round++) {
    raw.sendEvent('admin');
    raw.sendEvent('echo', { round });
    raw.sendEvent('guarded');
    raw.sendEvent('whoami');
    raw.sendEvent('authenticate', { token: fresh });
    await sleep(20);
  }
  return within(raw.tcpClosed(), Math.max(deadline - Date.now(), 0) + 100, `TCP still open after the close frame (closeGraceMs ${graceMs})`);
}

function assertGrace(close: RawClose, tcpClosedAt: number, graceMs: number) {
  const elapsed = tcpClosedAt - close.at;
  assert.ok(
    elapsed >= graceMs - EARLY_MS && elapsed <= graceMs + LATE_MS,
    `TCP closed ${elapsed} ms after the close frame, expected about ${graceMs} ms (closeGraceMs)`,
  );
}

/** The frames the server sent the peer, parsed, for checking that nothing answered after the close. */
function eventsSent(raw: RawWebSocket): string[] {
  return raw.texts().map((text) => {
    try {
      return JSON.parse(text).event as string;
    } catch {
      return text;
    }
  });
}

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('a connection closed for an auth reason acts no more', { timeout: 30_000 }, () => {
  let app: TestApp;
  let defaults: TestApp;
  let connections: WsConnections;
  let defaultConnections: WsConnections;
  const secrets: string[] = [];

  before(async () => {
    defaults = await startTestApp(appModule([makeRecordingGateway('CcDefault', { path: '/default' })], { jwt: { secret: TEST_SECRET } }));
    app = await startTestApp(
      appModule(
        [
          makeRecordingGateway('CcKick', { path: '/kick' }),
          makeRecordingGateway('CcExpire', { path: '/expire' }),
          makeRecordingGateway('CcBadRefresh', { path: '/bad-refresh' }),
          makeRecordingGateway('CcOtherRefresh', { path: '/other-refresh' }),
          makeRecordingGateway('CcGuard', { path: '/guard' }),
          makeRecordingGateway('CcReasons', { path: '/reasons' }),
          makeRecordingGateway('CcGrace', { path: '/grace', wsAuth: { closeGraceMs: GATEWAY_GRACE_MS } }),
          // A grace far longer than a polite close takes, so a quick close proves the handshake completed.
          makeRecordingGateway('CcPolite', { path: '/polite', wsAuth: { closeGraceMs: 5000 } }),
        ],
        { jwt: { secret: TEST_SECRET }, closeGraceMs: MODULE_GRACE_MS, expiryWarningMs: 0 },
      ),
    );
    connections = app.app.get(WsConnections);
    defaultConnections = defaults.app.get(WsConnections);
  });
  after(async () => {
    await app.close();
    await defaults.close();
  });

  function token(sub: string, claims: Record<string, unknown> = {}, expiresIn = 300): string {
    const signed = signToken({ sub, username: sub, ...claims }, { expiresIn });
    secrets.push(signed);
    return signed;
  }

  async function openRaw(target: TestApp, path: string, bearer: string): Promise<RawWebSocket> {
    return RawWebSocket.open(target.port, path, { headers: [['Authorization', `Bearer ${bearer}`]] });
  }

  /** Proves the raw peer's frames reach handlers before the close, so silence after it means something. */
  async function handledBeforeClose(raw: RawWebSocket, gateway: string) {
    const before = dispatchesOf(gateway, 'echo').length;
    raw.sendEvent('echo', 'before the close');
    await eventually(() => dispatchesOf(gateway, 'echo').length === before + 1, 2000, 'the echo before the close being handled');
    await eventually(() => eventsSent(raw).includes('echo'), 2000, 'the echo reply before the close');
  }

  /** After the close: no handler ran, handleDisconnect ran exactly once, nothing answered the peer. */
  async function assertActedNoMore(raw: RawWebSocket, gateway: string, handledAtClose: number, disconnectsBefore: number, answeredAtClose: number) {
    await eventually(() => dispatchesOf(gateway, 'disconnect').length === disconnectsBefore + 1, 2000, 'handleDisconnect');
    await sleep(100);
    assert.equal(dispatchesOf(gateway, 'disconnect').length, disconnectsBefore + 1, 'handleDisconnect runs once');
    assert.equal(handled(gateway), handledAtClose, `handlers ran after the close: ${JSON.stringify(dispatchesOf(gateway).slice(-5))}`);
    const events = eventsSent(raw).slice(answeredAtClose);
    for (const event of ['authenticated', 'admin', 'whoami', 'guarded', 'exception']) {
      assert.ok(!events.includes(event), `the server answered "${event}" after the close: ${JSON.stringify(events)}`);
    }
  }

  it('a kicked admin who ignores the close frame: admin frames never reach the handler, and TCP is destroyed after closeGraceMs', async () => {
    const sub = 'cc-kicked-admin';
    const raw = await openRaw(app, '/kick', token(sub, { roles: ['user', 'admin'] }));
    try {
      raw.sendEvent('admin');
      await eventually(() => dispatchesOf('CcKick', 'admin').length === 1, 2000, 'the admin handler running before the kick');
      await eventually(() => eventsSent(raw).includes('admin'), 2000, 'the admin reply before the kick');
      const client = serverSocketOf(connections, sub);
      assert.ok(await guardAllows(client), 'control: the guard lets the open connection through');
      const handledAtClose = handled('CcKick');
      const disconnectsBefore = dispatchesOf('CcKick', 'disconnect').length;
      const answeredAtClose = eventsSent(raw).length;

      assert.equal(await connections.disconnect(sub, 'kicked'), 1);
      assert.equal(getWsIdentity(client), undefined, 'the identity is gone from the moment of the close');
      assert.equal(await guardAllows(client), false, 'WsAuthGuard refuses the closing socket');

      const close = await within(raw.closed(), 4000, 'the close frame');
      assert.ok(close, 'the server sent a close frame');
      assert.deepEqual({ code: close.code, reason: close.reason }, { code: 4403, reason: 'Kicked' });
      const tcpClosedAt = await keepSendingUntilTcpCloses(raw, token(sub, { roles: ['user', 'admin'] }), close, MODULE_GRACE_MS);
      assertGrace(close, tcpClosedAt, MODULE_GRACE_MS);
      assert.equal(dispatchesOf('CcKick', 'admin').length, 1, 'no admin frame after the kick reached the handler');
      await assertActedNoMore(raw, 'CcKick', handledAtClose, disconnectsBefore, answeredAtClose);
      assert.equal(connections.count(sub), 0);
      assertNoSecret(app, raw.texts().join('\n') + close.reason, secrets);
    } finally {
      raw.destroy();
    }
  });

  it('expiry (4401 Token Expired): no frame after exp reaches a handler, a fresh token does not revive it, TCP is destroyed after closeGraceMs', async () => {
    const sub = 'cc-expired';
    const raw = await openRaw(app, '/expire', token(sub, { roles: ['user', 'admin'] }, 2));
    try {
      await handledBeforeClose(raw, 'CcExpire');
      const client = serverSocketOf(connections, sub);
      const handledAtClose = handled('CcExpire');
      const disconnectsBefore = dispatchesOf('CcExpire', 'disconnect').length;
      const answeredAtClose = eventsSent(raw).length;

      const close = await within(raw.closed(), 4000, 'the close frame');
      assert.ok(close, 'the server sent a close frame');
      assert.deepEqual({ code: close.code, reason: close.reason }, { code: 4401, reason: 'Token Expired' });
      assert.equal(getWsIdentity(client), undefined, 'the identity is gone from the moment of the close');
      assert.equal(await guardAllows(client), false, 'WsAuthGuard refuses the closing socket');
      const tcpClosedAt = await keepSendingUntilTcpCloses(raw, token(sub), close, MODULE_GRACE_MS);
      assertGrace(close, tcpClosedAt, MODULE_GRACE_MS);
      await assertActedNoMore(raw, 'CcExpire', handledAtClose, disconnectsBefore, answeredAtClose);
      assertNoSecret(app, raw.texts().join('\n') + close.reason, secrets);
    } finally {
      raw.destroy();
    }
  });

  const refusedRefreshes: Array<{ what: string; path: string; gateway: string; code: number; refreshWith: (sub: string) => string }> = [
    {
      what: 'an invalid token (4401)',
      path: '/bad-refresh',
      gateway: 'CcBadRefresh',
      code: 4401,
      refreshWith: (sub) => {
        const forged = signToken({ sub, username: sub, roles: ['admin'] }, {}, WRONG_SECRET);
        secrets.push(forged);
        return forged;
      },
    },
    {
      what: "another subject's token (4403)",
      path: '/other-refresh',
      gateway: 'CcOtherRefresh',
      code: 4403,
      refreshWith: () => token('cc-someone-else', { roles: ['admin'] }),
    },
  ];
  for (const { what, path, gateway, code, refreshWith } of refusedRefreshes) {
    it(`a refresh refused for ${what}: no later frame reaches a handler and TCP is destroyed after closeGraceMs`, async () => {
      const sub = `cc-refresh-${code}`;
      const raw = await openRaw(app, path, token(sub));
      try {
        await handledBeforeClose(raw, gateway);
        const client = serverSocketOf(connections, sub);
        const handledAtClose = handled(gateway);
        const disconnectsBefore = dispatchesOf(gateway, 'disconnect').length;
        const answeredAtClose = eventsSent(raw).length;

        const refresh = refreshWith(sub);
        raw.sendEvent('authenticate', { token: refresh });
        const close = await within(raw.closed(), 4000, 'the close frame');
        assert.ok(close, 'the server sent a close frame');
        assert.equal(close.code, code, `got ${close.code} "${close.reason}"`);
        assert.equal(getWsIdentity(client), undefined, 'the identity is gone from the moment of the close');
        assert.equal(await guardAllows(client), false, 'WsAuthGuard refuses the closing socket');
        const tcpClosedAt = await keepSendingUntilTcpCloses(raw, refresh, close, MODULE_GRACE_MS);
        assertGrace(close, tcpClosedAt, MODULE_GRACE_MS);
        await assertActedNoMore(raw, gateway, handledAtClose, disconnectsBefore, answeredAtClose);
        assert.equal(connections.count('cc-someone-else'), 0, 'the peer never became the other subject');
        assertNoSecret(app, raw.texts().join('\n') + close.reason, secrets);
      } finally {
        raw.destroy();
      }
    });
  }

  it('WsAuthGuard refuses a socket the app is closing, even one that still has its identity', async () => {
    const sub = 'cc-guard';
    const raw = await openRaw(app, '/guard', token(sub));
    try {
      raw.sendEvent('guarded');
      await eventually(() => dispatchesOf('CcGuard', 'guarded').length === 1, 2000, 'the guarded handler running while open');
      const client = serverSocketOf(connections, sub);
      assert.ok(await guardAllows(client), 'control: the guard lets the open connection through');
      // Not an auth close: app code ending the connection for its own reasons.
      client.close(1000, 'Bye');
      assert.equal(await guardAllows(client), false, 'WsAuthGuard refuses a closing socket');
      const close = await within(raw.closed(), 4000, 'the close frame');
      assert.equal(close?.code, 1000);
      for (let i = 0; i < 5; i++) raw.sendEvent('guarded');
      await sleep(150);
      assert.equal(dispatchesOf('CcGuard', 'guarded').length, 1, 'a guarded handler ran for a frame sent after the close');
    } finally {
      raw.destroy();
    }
  });

  it('disconnect() closes with 4403 and the fixed text of each reason, "Revoked" by default', async () => {
    const cases: Array<[keyof typeof REASONS | undefined, string]> = [
      [undefined, 'Revoked'],
      ...(Object.entries(REASONS) as Array<[keyof typeof REASONS, string]>),
    ];
    const disconnectsBefore = dispatchesOf('CcReasons', 'disconnect').length;
    await Promise.all(
      cases.map(async ([reason, text]) => {
        const sub = `cc-reason-${reason ?? 'default'}`;
        const socket = await openWitnessed(app.url('/reasons'), { headers: { Authorization: `Bearer ${token(sub)}` } });
        const client = serverSocketOf(connections, sub);
        assert.equal(await (reason === undefined ? connections.disconnect(sub) : connections.disconnect(sub, reason)), 1);
        assert.equal(getWsIdentity(client), undefined);
        const close = await closedWithin(socket);
        assert.deepEqual({ code: close.code, reason: close.reason }, { code: 4403, reason: text }, String(reason));
        assertNoSecret(app, socket.seen(close), secrets);
      }),
    );
    await eventually(() => dispatchesOf('CcReasons', 'disconnect').length === disconnectsBefore + cases.length, 2000, 'handleDisconnect for each');
  });

  it('never sends free text given as a reason: a credential passed by mistake stays on the server', async () => {
    const sub = 'cc-free-text';
    const leaked = token(sub);
    const socket = await openWitnessed(app.url('/reasons'), { headers: { Authorization: `Bearer ${leaked}` } });
    // Outside the vocabulary: a type error in TypeScript, but plain JavaScript can pass it.
    await connections.disconnect(sub, `Password changed ${leaked}` as never).catch(() => undefined);
    const close = await within(socket.closed, 500, 'close').catch(() => undefined);
    if (close) {
      assert.equal(close.code, 4403);
      assert.ok((Object.values(REASONS) as string[]).includes(close.reason), `close text outside the vocabulary: "${close.reason}"`);
    }
    assertNoSecret(app, socket.seen(close), secrets);
    await socket.close();
  });

  it("a gateway's closeGraceMs overrides the module's; the default is 1000 ms", async () => {
    const cases = [
      { target: app, connections: () => connections, path: '/grace', graceMs: GATEWAY_GRACE_MS, gateway: 'CcGrace' },
      { target: defaults, connections: () => defaultConnections, path: '/default', graceMs: DEFAULT_GRACE_MS, gateway: 'CcDefault' },
    ];
    await Promise.all(
      cases.map(async ({ target, connections: of, path, graceMs, gateway }) => {
        const sub = `cc-grace-${graceMs}`;
        const raw = await openRaw(target, path, token(sub));
        try {
          await handledBeforeClose(raw, gateway);
          const handledAtClose = handled(gateway);
          await of().disconnect(sub, 'logged_out');
          const close = await within(raw.closed(), 4000, 'the close frame');
          assert.ok(close, 'the server sent a close frame');
          assert.deepEqual({ code: close.code, reason: close.reason }, { code: 4403, reason: 'Logged Out' });
          const tcpClosedAt = await keepSendingUntilTcpCloses(raw, token(sub), close, graceMs);
          assertGrace(close, tcpClosedAt, graceMs);
          await sleep(50);
          assert.equal(handled(gateway), handledAtClose, `${path}: a handler ran after the close`);
        } finally {
          raw.destroy();
        }
      }),
    );
    assertNoSecret([app, defaults], '', secrets);
  });

  it('a well-behaved client completes the close handshake with the code at once, and handleDisconnect runs once', async () => {
    const bearer = (sub: string, expiresIn?: number) => ({ headers: { Authorization: `Bearer ${token(sub, {}, expiresIn)}` } });
    const disconnectsBefore = dispatchesOf('CcPolite', 'disconnect').length;
    const open = async (sub: string, expiresIn?: number) => {
      const socket = await openWitnessed(app.url('/polite'), bearer(sub, expiresIn));
      return { socket, client: serverSocketOf(connections, sub) };
    };
    const assertPolite = async (
      { socket, client }: { socket: SocketWitness; client: WebSocket },
      code: number,
      reason: string | undefined,
      since: () => number,
    ) => {
      const close = await closedWithin(socket, 4000);
      assert.equal(close.code, code, `got ${close.code} "${close.reason}"`);
      if (reason !== undefined) assert.equal(close.reason, reason);
      // Far less than the gateway's 5000 ms grace: the close handshake completed, nothing was destroyed.
      assert.ok(close.at - since() < 1000, `closed ${close.at - since()} ms after the server's close`);
      assert.equal(getWsIdentity(client), undefined);
      assertNoSecret(app, socket.seen(close), secrets);
    };

    const banned = await open('cc-polite-banned');
    const expiring = await open('cc-polite-expiring', 2);
    const badRefresh = await open('cc-polite-bad');
    const otherRefresh = await open('cc-polite-other');

    let bannedAt = Date.now();
    const bannedClose = (async () => {
      bannedAt = Date.now();
      await connections.disconnect('cc-polite-banned', 'banned');
    })();
    let refreshedAt = Date.now();
    badRefresh.socket.send('authenticate', { token: signToken({ sub: 'cc-polite-bad' }, {}, WRONG_SECRET) });
    otherRefresh.socket.send('authenticate', { token: token('cc-polite-someone-else') });
    refreshedAt = Date.now();
    await bannedClose;
    await Promise.all([
      assertPolite(banned, 4403, 'Banned', () => bannedAt),
      assertPolite(badRefresh, 4401, undefined, () => refreshedAt),
      assertPolite(otherRefresh, 4403, undefined, () => refreshedAt),
      assertPolite(expiring, 4401, 'Token Expired', () => expiring.socket.opened + 2000),
    ]);
    await eventually(() => dispatchesOf('CcPolite', 'disconnect').length === disconnectsBefore + 4, 2000, 'handleDisconnect for each');
    await sleep(200);
    assert.equal(dispatchesOf('CcPolite', 'disconnect').length, disconnectsBefore + 4, 'handleDisconnect runs once per connection');
  });
});
