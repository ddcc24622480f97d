import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { WsConnections, WsRevocations, WsTicketService, type WsAuthOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, sleep, type SocketWitness, type WitnessedClose } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';
import { collector } from '../support/collector.js';

// issueForToken only hands the request to validate(), which these apps do not configure.
const NO_REQUEST = { headers: {} } as IncomingMessage;
const DAY_S = 86_400;
const SHORT_LIFETIME_S = 2;

type Upgrade = readonly [path: string, headers: Array<[string, string]>];

/** Every way a token can reach the upgrade of the `/chat` gateways below. */
function waysOf(token: string): Array<[string, Upgrade]> {
  return [
    ['the Authorization header', ['/chat', [['Authorization', `Bearer ${token}`]]]],
    ['the cookie', ['/chat', [['Cookie', `access_token=${token}`]]]],
    ['the bearer subprotocol', ['/chat', [['Sec-WebSocket-Protocol', `app, bearer.${token}`]]]],
    ['the query', [`/chat?access_token=${token}`, []]],
    ['the header, on another gateway', ['/other', [['Authorization', `Bearer ${token}`]]]],
  ];
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const userToken = (sub: string, claims: Record<string, unknown> = {}, options: jwt.SignOptions = {}) => signToken({ sub, username: sub, ...claims }, options);

/** Issued after any revocation made before this call: `iat` is the next second. */
const tokenAfterCutoff = (sub: string, claims: Record<string, unknown> = {}) => userToken(sub, { iat: nowSeconds() + 1, ...claims });

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('WsRevocations in one instance', { timeout: 45_000 }, () => {
  let short: TestApp;
  let app: TestApp;
  let revocations: WsRevocations;
  let tickets: WsTicketService;
  let connections: WsConnections;
  const presented: string[] = [];

  const options = (revocation: WsAuthOptions['revocation']): WsAuthOptions => ({
    jwt: { secret: TEST_SECRET },
    credentials: ['ticket', 'header', 'subprotocol', 'cookie', 'query'],
    authTimeoutMs: 2000,
    revocation,
  });

  before(async () => {
    // Nest's logger is process-wide: the app created last captures what both log, and the
    // leak checks read both captures.
    // Undated tokens are its probes: requireIssuedAt off.
    short = await startTestApp(
      appModule([makeRecordingGateway('RvkShort', { path: '/chat' })], options({ maxTokenLifetimeSeconds: SHORT_LIFETIME_S, requireIssuedAt: false })),
    );
    app = await startTestApp(
      appModule(
        [
          makeRecordingGateway('RvkChat', { path: '/chat' }),
          makeRecordingGateway('RvkOther', { path: '/other' }),
          makeRecordingGateway('RvkLive', { path: '/live', wsAuth: { mode: 'in-band' } }),
        ],
        options({}),
      ),
    );
    revocations = app.app.get(WsRevocations);
    tickets = app.app.get(WsTicketService);
    connections = app.app.get(WsConnections);
  });
  after(async () => {
    await app?.close();
    await short?.close();
  });

  const logs = () => `${app.logs.text()}\n${short.logs.text()}`;

  function upgrade(target: TestApp, [path, headers]: Upgrade): Promise<RawResponse> {
    return rawUpgrade(target.port, upgradeRequest(path, headers));
  }

  /** A refused upgrade that gave nothing away: status, fixed reason, no credential echoed or logged. */
  function assertRefused(response: RawResponse, secrets: string[], what: string, reason?: string): void {
    assert.equal(response.status, 401, `${what}: expected 401, got ${JSON.stringify(response.raw.slice(0, 200))}`);
    if (reason) assert.equal(JSON.parse(response.body).reason, reason, what);
    for (const secret of secrets) {
      presented.push(secret);
      assert.ok(!response.raw.includes(secret), `${what}: the response must not contain the credential`);
      assert.ok(!logs().includes(secret), `${what}: the log must not contain the credential`);
    }
  }

  async function assertRevokedEverywhere(token: string, what: string): Promise<void> {
    for (const [way, request] of waysOf(token)) assertRefused(await upgrade(app, request), [token], `${what}, ${way}`, 'credential_revoked');
  }

  async function assertAccepted(target: TestApp, request: Upgrade, what: string): Promise<void> {
    const response = await upgrade(target, request);
    assert.equal(response.status, 101, `${what}: expected 101, got ${JSON.stringify(response.raw.slice(0, 200))}`);
  }

  /** A socket that authenticated in-band with `token`. */
  async function onLive(token: string): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url('/live'));
    await socket.authenticate(token);
    return socket;
  }

  /** The answer to an in-band `authenticate` (or a refresh) with `token`: the close it caused. */
  async function closedByAuthenticate(socket: SocketWitness, token: string): Promise<WitnessedClose> {
    presented.push(token);
    socket.send('authenticate', { token });
    const close = await socket.closed;
    assert.ok(!socket.seen(close).includes(token), 'the client must not get its token back');
    assert.ok(!logs().includes(token), 'the log must not contain the token');
    return close;
  }

  async function assertCannotIssue(token: string, what: string): Promise<void> {
    presented.push(token);
    await assert.rejects(tickets.issueForToken(token, NO_REQUEST), (error: any) => {
      assert.equal(error?.getStatus?.(), 401, `${what}: ${error}`);
      assert.ok(!JSON.stringify(error.getResponse()).includes(token), `${what}: the error must not carry the token`);
      return true;
    });
  }

  async function assertClosedRevoked(socket: SocketWitness, token: string, text = 'Revoked'): Promise<void> {
    const close = await socket.closed;
    assert.deepEqual({ code: close.code, reason: close.reason }, { code: 4403, reason: text });
    assert.ok(!socket.seen(close).includes(token), 'the client must not get its token back');
  }

  async function assertServes(socket: SocketWitness, subject: string): Promise<void> {
    assert.equal(socket.socket.readyState, 1, `${subject}'s socket must stay open`);
    assert.equal((await socket.request('whoami')).data.subject, subject);
  }

  async function entriesOf(predicate: (entry: any) => boolean) {
    return (await revocations.list()).filter(predicate);
  }

  describe('by subject', () => {
    it('refuses every credential the subject was issued up to now, wherever it is presented', async () => {
      const sub = 'rvk-subject';
      const token = userToken(sub);
      const { ticket } = await tickets.issueForToken(token, NO_REQUEST);
      const bystanderToken = userToken('rvk-bystander');
      const bystander = await openWitnessed(app.url('/chat'), bearer(bystanderToken));

      await revocations.revoke({ subject: sub });

      await assertRevokedEverywhere(token, 'a token issued before the revocation');
      assertRefused(await upgrade(app, [`/chat?ticket=${ticket}`, []]), [ticket, token], 'a ticket minted before the revocation', 'credential_revoked');
      await assertCannotIssue(token, 'issueForToken');
      const live = await openWitnessed(app.url('/live'));
      assert.equal((await closedByAuthenticate(live, token)).code, 4401, 'in-band authenticate');

      // Other subjects are not touched, open or new.
      await assertServes(bystander, 'rvk-bystander');
      for (const [way, request] of waysOf(bystanderToken)) await assertAccepted(app, request, `the bystander, ${way}`);
      await bystander.close();
    });

    it('counts a token issued in the same second as the revocation as revoked', async () => {
      const sub = 'rvk-same-second';
      // Signed right before: either the same second, or an earlier one.
      const sameSecond = userToken(sub);
      await revocations.revoke({ subject: sub });
      assertRefused(await upgrade(app, waysOf(sameSecond)[0][1]), [sameSecond], 'same second', 'credential_revoked');
    });

    it('refuses a token without iat by default, whose age a revocation could not judge', async () => {
      const noIat = jwt.sign({ sub: 'rvk-undated', username: 'rvk-undated', exp: nowSeconds() + 300 }, TEST_SECRET, { noTimestamp: true });
      assertRefused(await upgrade(app, waysOf(noIat)[0][1]), [noIat], 'no iat', 'invalid_credential');
      // With requireIssuedAt: false (the short app) it opens, and counts as issued before any cut-off.
      const undated = jwt.sign({ sub: 'rvk-undated', username: 'rvk-undated', exp: nowSeconds() + SHORT_LIFETIME_S }, TEST_SECRET, { noTimestamp: true });
      await assertAccepted(short, waysOf(undated)[0][1], 'no iat, requireIssuedAt: false');
      await short.app.get(WsRevocations).revoke({ subject: 'rvk-undated' });
      assertRefused(await upgrade(short, waysOf(undated)[0][1]), [undated], 'no iat, revoked subject', 'credential_revoked');
    });

    it('accepts credentials issued after the cut-off second, everywhere', async () => {
      const sub = 'rvk-fresh';
      await revocations.revoke({ subject: sub });
      const fresh = tokenAfterCutoff(sub);
      for (const [way, request] of waysOf(fresh)) await assertAccepted(app, request, `a token issued after the revocation, ${way}`);
      const { ticket } = await tickets.issueForToken(fresh, NO_REQUEST);
      const viaTicket = await openWitnessed(app.url(`/chat?ticket=${ticket}`));
      await assertServes(viaTicket, sub);
      const live = await onLive(fresh);
      await assertServes(live, sub);
      // A token issued by a real login a second later works the same, without a future iat.
      while (nowSeconds() < (jwt.decode(fresh) as { iat: number }).iat) await sleep(20);
      const login = userToken(sub);
      await assertAccepted(app, waysOf(login)[0][1], 'a token signed in the next second');
      await Promise.all([viaTicket.close(), live.close()]);
    });

    it('closes every open socket of the subject, on every gateway, with 4403 "Revoked"; resolves with how many', async () => {
      const sub = 'rvk-open';
      const token = userToken(sub);
      const { ticket } = await tickets.issueForToken(token, NO_REQUEST);
      const sockets = [
        await openWitnessed(app.url('/chat'), bearer(token)),
        await openWitnessed(app.url(`/chat?ticket=${ticket}`)),
        await openWitnessed(app.url('/other'), { headers: { Cookie: `access_token=${token}` } }),
        await openWitnessed(app.url('/other'), { protocols: ['app', `bearer.${token}`] }),
        await onLive(token),
      ];
      const bystander = await onLive(userToken('rvk-open-bystander'));
      const waiting = await openWitnessed(app.url('/live'));
      assert.equal(connections.count(sub), sockets.length);

      assert.equal(await revocations.revoke({ subject: sub }), sockets.length);

      for (const socket of sockets) await assertClosedRevoked(socket, token);
      await eventually(() => connections.count(sub) === 0, 1000, "the subject's connections forgotten");
      await assertServes(bystander, 'rvk-open-bystander');
      assert.equal(waiting.socket.readyState, 1, 'a socket that has not authenticated has no subject to revoke');
      assert.equal(await revocations.revoke({ subject: 'rvk-nobody-here' }), 0);
      await Promise.all([bystander.close(), waiting.close()]);
    });

    it("closes with the reason's fixed text, and with 'Revoked' for anything outside the vocabulary", async () => {
      const texts = { revoked: 'Revoked', logged_out: 'Logged Out', kicked: 'Kicked', banned: 'Banned', credentials_changed: 'Credentials Changed' };
      for (const [reason, text] of Object.entries(texts)) {
        const token = userToken(`rvk-reason-${reason}`);
        const socket = await openWitnessed(app.url('/chat'), bearer(token));
        assert.equal(await revocations.revoke({ subject: `rvk-reason-${reason}` }, reason as never), 1);
        await assertClosedRevoked(socket, token, text);
      }
      for (const [i, freeText] of ['Password changed', '<b>hi</b>', 'é'.repeat(100), '', 'toString', '__proto__'].entries()) {
        // A subject each: a revoked subject's tokens of this same second stay refused.
        const token = userToken(`rvk-reason-free-${i}`);
        const socket = await openWitnessed(app.url('/chat'), bearer(token));
        await revocations.revoke({ subject: `rvk-reason-free-${i}` }, freeText as never);
        await assertClosedRevoked(socket, token, 'Revoked');
      }
    });

    it('moves the cut-off forward when the subject is revoked again, and lists one entry for it', async () => {
      const sub = 'rvk-again';
      await revocations.revoke({ subject: sub });
      const between = tokenAfterCutoff(sub);
      await assertAccepted(app, waysOf(between)[0][1], 'issued after the first revocation');
      while (nowSeconds() < (jwt.decode(between) as { iat: number }).iat) await sleep(20);
      await revocations.revoke({ subject: sub });
      assertRefused(await upgrade(app, waysOf(between)[0][1]), [between], 'issued before the second revocation', 'credential_revoked');
      assert.equal((await entriesOf((entry) => entry.kind === 'subject' && entry.subject === sub)).length, 1);
    });
  });

  describe('by token id', () => {
    it("kills one session: its socket closes and its token is refused everywhere; the user's other session stays", async () => {
      const sub = 'rvk-jti';
      const doomed = userToken(sub, { jti: 'rvk-jti-doomed' });
      const kept = userToken(sub, { jti: 'rvk-jti-kept' });
      const { ticket } = await tickets.issueForToken(doomed, NO_REQUEST);
      const doomedSockets = [await openWitnessed(app.url('/chat'), bearer(doomed)), await onLive(doomed)];
      const keptSockets = [await openWitnessed(app.url('/other'), bearer(kept)), await onLive(kept)];

      assert.equal(await revocations.revoke({ jti: 'rvk-jti-doomed' }), doomedSockets.length);

      for (const socket of doomedSockets) await assertClosedRevoked(socket, doomed);
      for (const socket of keptSockets) await assertServes(socket, sub);
      await assertRevokedEverywhere(doomed, 'the revoked token');
      // "Dead everywhere": a ticket minted from the token before carries it.
      assertRefused(await upgrade(app, [`/chat?ticket=${ticket}`, []]), [ticket, doomed], 'a ticket minted from the revoked token', 'credential_revoked');
      await assertCannotIssue(doomed, 'issueForToken with the revoked token');
      assert.equal((await closedByAuthenticate(await openWitnessed(app.url('/live')), doomed)).code, 4401, 'in-band authenticate');

      for (const [way, request] of waysOf(kept)) await assertAccepted(app, request, `the other token, ${way}`);
      const { ticket: keptTicket } = await tickets.issueForToken(kept, NO_REQUEST);
      await assertAccepted(app, [`/chat?ticket=${keptTicket}`, []], 'a ticket from the other token');
      // A refresh of the surviving session with the revoked token is refused like any bad token.
      assert.equal((await closedByAuthenticate(keptSockets[0], doomed)).code, 4401, 'refresh with the revoked token');
      await assertServes(keptSockets[1], sub);
      await keptSockets[1].close();
    });

    it('forgets the entry at its expiresAt', async () => {
      const jti = 'rvk-jti-expiring';
      const token = userToken('rvk-jti-expiring', { jti });
      const expiresAt = Date.now() + 1500;
      await revocations.revoke({ jti, expiresAt });
      assertRefused(await upgrade(app, waysOf(token)[0][1]), [token], 'before expiresAt', 'credential_revoked');
      assert.deepEqual(await entriesOf((entry) => entry.jti === jti), [{ kind: 'jti', jti, expiresAt }]);
      await eventually(async () => (await upgrade(app, waysOf(token)[0][1])).status === 101, 5000, 'the token accepted after expiresAt');
      // A few ms of slack: timers and Date.now() may disagree that much, never by more.
      assert.ok(Date.now() >= expiresAt - 20, `forgotten ${expiresAt - Date.now()} ms before its expiresAt`);
      assert.deepEqual(await entriesOf((entry) => entry.jti === jti), []);
    });
  });

  describe('undo and listing', () => {
    it('unrevoke() restores a subject and a token id; their old tokens work again', async () => {
      const sub = 'rvk-undo';
      const token = userToken(sub);
      const byJti = userToken('rvk-undo-jti', { jti: 'rvk-undo-jti' });
      await revocations.revoke({ subject: sub });
      await revocations.revoke({ jti: 'rvk-undo-jti' });
      assertRefused(await upgrade(app, waysOf(token)[0][1]), [token], 'revoked subject', 'credential_revoked');
      assertRefused(await upgrade(app, waysOf(byJti)[0][1]), [byJti], 'revoked jti', 'credential_revoked');

      await revocations.unrevoke({ subject: sub });
      await revocations.unrevoke({ jti: 'rvk-undo-jti' });

      for (const [way, request] of [...waysOf(token), ...waysOf(byJti)]) await assertAccepted(app, request, `after unrevoke, ${way}`);
      const live = await onLive(token);
      await assertServes(live, sub);
      const { ticket } = await tickets.issueForToken(byJti, NO_REQUEST);
      await assertAccepted(app, [`/chat?ticket=${ticket}`, []], 'a ticket after unrevoke');
      assert.deepEqual(await entriesOf((entry) => entry.subject === sub || entry.jti === 'rvk-undo-jti'), []);
      // Undoing what is not revoked is harmless.
      await revocations.unrevoke({ subject: 'rvk-never-revoked' });
      await revocations.unrevoke({ jti: 'rvk-never-revoked' });
      await live.close();
    });

    it('list() gives each revocation with its cut-off and expiry', async () => {
      const before = Date.now();
      await revocations.revoke({ subject: 'rvk-list' });
      await revocations.revoke({ jti: 'rvk-list-given', expiresAt: before + 60_000 });
      await revocations.revoke({ jti: 'rvk-list-default' });
      const after = Date.now();

      const [subject] = await entriesOf((entry) => entry.subject === 'rvk-list');
      assert.deepEqual(Object.keys(subject ?? {}).sort(), ['cutoff', 'expiresAt', 'kind', 'subject']);
      assert.equal(subject.kind, 'subject');
      assert.ok(Number.isInteger(subject.cutoff), 'the cut-off is whole epoch seconds, like iat');
      assert.ok(subject.cutoff >= Math.floor(before / 1000) && subject.cutoff <= Math.floor(after / 1000), `cutoff ${subject.cutoff}`);
      // Kept maxTokenLifetimeSeconds (default one day): then no token it covers can still be valid.
      assert.ok(subject.expiresAt >= Math.floor(before / 1000) * 1000 + DAY_S * 1000, `expiresAt ${subject.expiresAt}`);
      assert.ok(subject.expiresAt <= after + DAY_S * 1000 + 1000, `expiresAt ${subject.expiresAt}`);

      assert.deepEqual(await entriesOf((entry) => entry.jti === 'rvk-list-given'), [{ kind: 'jti', jti: 'rvk-list-given', expiresAt: before + 60_000 }]);
      const [byDefault] = await entriesOf((entry) => entry.jti === 'rvk-list-default');
      assert.deepEqual(Object.keys(byDefault ?? {}).sort(), ['expiresAt', 'jti', 'kind']);
      assert.ok(byDefault.expiresAt >= before + DAY_S * 1000 && byDefault.expiresAt <= after + DAY_S * 1000, `expiresAt ${byDefault.expiresAt}`);
    });
  });

  describe('refresh over an open socket', () => {
    it('closes with 4401 when the refresh token is revoked, and keeps a socket refreshed with a fresh one', async () => {
      const sub = 'rvk-refresh';
      const old = userToken(sub);
      await revocations.revoke({ subject: sub });
      const fresh = tokenAfterCutoff(sub);
      const chat = await openWitnessed(app.url('/chat'), bearer(fresh));
      const live = await onLive(fresh);
      // A refresh with a token that is not revoked works as before.
      await chat.authenticate(tokenAfterCutoff(sub, { roles: ['user', 'admin'] }));
      await assertServes(chat, sub);
      assert.equal((await closedByAuthenticate(chat, old)).code, 4401, 'refresh on a handshake socket');
      assert.equal((await closedByAuthenticate(live, old)).code, 4401, 'refresh on an in-band socket');
    });
  });

  describe('maxTokenLifetimeSeconds', () => {
    it('refuses a token whose exp is further away than the lifetime (401), at the upgrade and for a ticket', async () => {
      const tooLong = userToken('rvk-too-long', {}, { expiresIn: DAY_S + 120 });
      const justUnder = userToken('rvk-too-long', {}, { expiresIn: DAY_S - 120 });
      for (const [way, request] of waysOf(tooLong)) assertRefused(await upgrade(app, request), [tooLong], `exp beyond one day, ${way}`);
      await assertCannotIssue(tooLong, 'issueForToken with exp beyond one day');
      assert.equal((await closedByAuthenticate(await openWitnessed(app.url('/live')), tooLong)).code, 4401, 'in-band');
      await assertAccepted(app, waysOf(justUnder)[0][1], 'exp within one day');

      const overShort = userToken('rvk-short', {}, { expiresIn: 300 });
      assertRefused(await upgrade(short, waysOf(overShort)[0][1]), [overShort], `exp beyond ${SHORT_LIFETIME_S} s`);
      await assertAccepted(short, waysOf(userToken('rvk-short', {}, { expiresIn: SHORT_LIFETIME_S }))[0][1], `exp within ${SHORT_LIFETIME_S} s`);
    });

    it('forgets a subject revocation by itself once no token it covers can still be valid', async () => {
      const shortRevocations = short.app.get(WsRevocations);
      const sub = 'rvk-short-forgotten';
      const headerOf = (token: string): Upgrade => ['/chat', [['Authorization', `Bearer ${token}`]]];
      // Within the lifetime rule, and still covered by every cut-off: a token without iat counts
      // as issued before. Signed anew for each try, so it is never expired itself.
      const undated = () => jwt.sign({ sub, username: sub, exp: nowSeconds() + SHORT_LIFETIME_S }, TEST_SECRET, { noTimestamp: true });
      const old = userToken(sub, {}, { expiresIn: SHORT_LIFETIME_S });
      await assertAccepted(short, headerOf(old), 'before the revocation');

      const revokedAt = Date.now();
      await shortRevocations.revoke({ subject: sub });
      assertRefused(await upgrade(short, headerOf(old)), [old], 'right after the revocation', 'credential_revoked');
      const first = undated();
      assertRefused(await upgrade(short, headerOf(first)), [first], 'undated, right after the revocation', 'credential_revoked');
      const [entry] = (await shortRevocations.list()).filter((each: any) => each.subject === sub);
      assert.ok(entry && entry.expiresAt <= revokedAt + (SHORT_LIFETIME_S + 1) * 1000, `kept until ${entry?.expiresAt}`);

      let tries = 0;
      await eventually(
        async () => {
          tries++;
          // The old token never works again: revoked until it has expired by itself.
          const response = await upgrade(short, headerOf(old));
          assert.equal(response.status, 401, `the old token after ${Date.now() - revokedAt} ms`);
          const token = undated();
          presented.push(token);
          return (await upgrade(short, headerOf(token))).status === 101;
        },
        (SHORT_LIFETIME_S + 3) * 1000,
        'the subject revocation forgotten',
      );
      assert.ok(tries > 1 && Date.now() - revokedAt >= 900, `forgotten after ${Date.now() - revokedAt} ms`);
      assert.deepEqual(
        (await shortRevocations.list()).filter((each: any) => each.subject === sub),
        [],
      );
    });
  });

  it('never logs a token', () => {
    const text = logs();
    for (const token of presented) assert.ok(!text.includes(token));
  });
});

describe('a revocation made while a credential is being checked', { timeout: 30_000 }, () => {
  let app: TestApp;
  let revocations: WsRevocations;
  // validate() waits on this gate for the subjects named in `held`, as a slow user store would.
  const held = new Set<string>();
  let release = () => {};
  let entered = () => {};

  before(async () => {
    const validate: NonNullable<WsAuthOptions['validate']> = async (claims) => {
      if (held.has(String(claims.sub))) {
        await new Promise<void>((resolve) => {
          release = resolve;
          entered();
        });
      }
      return claims;
    };
    app = await startTestApp(
      appModule([makeRecordingGateway('RaceChat', { path: '/chat' }), makeRecordingGateway('RaceLive', { path: '/live', wsAuth: { mode: 'in-band' } })], {
        jwt: { secret: TEST_SECRET },
        validate,
      }),
    );
    revocations = app.app.get(WsRevocations);
  });
  after(() => app.close());

  /** Starts `attempt`, revokes once validate() is waiting for `subject`, then lets it finish. */
  async function revokeDuring<T>(subject: string, attempt: () => Promise<T>, target: { subject: string } | { jti: string } = { subject }): Promise<T> {
    held.add(subject);
    const waiting = new Promise<void>((resolve) => (entered = resolve));
    const outcome = attempt();
    await waiting;
    await revocations.revoke(target);
    release();
    return outcome;
  }

  it('refuses the upgrade (401) instead of admitting a credential revoked meanwhile', async () => {
    const token = signToken({ sub: 'race-upgrade' });
    const response = await revokeDuring('race-upgrade', () => rawUpgrade(app.port, upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]])));
    assert.equal(response.status, 401, response.raw.slice(0, 200));
    assert.equal(JSON.parse(response.body).reason, 'credential_revoked');
    assert.ok(!response.raw.includes(token) && !app.logs.text().includes(token));
  });

  it('closes an in-band socket (4401) whose authenticate was revoked meanwhile', async () => {
    const token = signToken({ sub: 'race-live' });
    const socket = await openWitnessed(app.url('/live'));
    const close = await revokeDuring('race-live', async () => {
      socket.send('authenticate', { token });
      return socket.closed;
    });
    assert.equal(close.code, 4401);
    assert.ok(!socket.seen(close).includes(token) && !app.logs.text().includes(token));
    assert.equal(app.app.get(WsConnections).count('race-live'), 0);
  });

  it('closes a socket (4401) whose refresh token was revoked meanwhile, rather than renew it', async () => {
    const socket = await openWitnessed(app.url('/chat'), bearer(signToken({ sub: 'race-refresh', jti: 'race-old' })));
    const fresh = signToken({ sub: 'race-refresh', jti: 'race-fresh' });
    // Only the fresh token is revoked: the socket's own token stays good, so only the refresh can close it.
    const close = await revokeDuring(
      'race-refresh',
      async () => {
        socket.send('authenticate', { token: fresh });
        return socket.closed;
      },
      { jti: 'race-fresh' },
    );
    assert.equal(close.code, 4401);
    assert.ok(!socket.seen(close).includes(fresh) && !app.logs.text().includes(fresh));
  });
});

describe('100,000 revocations by token id', { timeout: 45_000 }, () => {
  const COUNT = 100_000;
  // Generous for a Map of 100k short strings (about 10 MB); a copy per entry or a leak is far above.
  const HEAP_BOUND_BYTES = 40 * 1024 * 1024;
  let app: TestApp;
  before(async () => {
    app = await startTestApp(appModule([makeRecordingGateway('RvkMass', { path: '/chat' })], { jwt: { secret: TEST_SECRET } }));
  });
  after(() => app?.close());

  it('keeps heap growth bounded, and still answers each lookup right', async () => {
    const revocations = app.app.get(WsRevocations);
    const gc = collector();
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const expiresAt = Date.now() + 3_600_000;
    for (let i = 0; i < COUNT; i++) await revocations.revoke({ jti: `mass-${i}`, expiresAt });
    gc?.();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    console.log(`heap after ${COUNT} jti revocations: +${(grown / 1024 / 1024).toFixed(1)} MB (${gc ? 'after gc' : 'no gc available'})`);
    assert.ok(grown < HEAP_BOUND_BYTES, `heap grew ${grown} bytes`);
    assert.equal((await revocations.list()).length, COUNT);

    // The upgrade path, a few hundred times: every answer right, whatever the size of the list.
    for (let i = 0; i < 300; i++) {
      const revoked = i % 2 === 0;
      const jti = revoked ? `mass-${(i * 331) % COUNT}` : `mass-live-${i}`;
      const token = signToken({ sub: `mass-${i}`, jti });
      const response = await rawUpgrade(app.port, upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]]));
      assert.equal(response.status, revoked ? 401 : 101, jti);
      if (revoked) assert.equal(JSON.parse(response.body).reason, 'credential_revoked');
    }
  });
});
