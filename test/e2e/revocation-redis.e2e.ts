import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient } from 'redis';
import jwt from 'jsonwebtoken';
import { WsConnections } from '../../lib/index.js';
import { RedisServer } from '../support/redis-server.js';
import { startSample, SAMPLE_TEST_SECRET, type RunningSample } from '../support/sample-app.js';
import { nowSeconds } from '../support/tokens.js';
import { closed, nextEvent, openOrFail, openSocket, request } from '../support/ws-client.js';
import { settledWithin } from '../support/close-deadline.js';

const binary = RedisServer.find();

const KICK_REASON = 'Kicked';
// alice's id in the sample's UsersService: the subject WsConnections knows her by.
const ALICE = '1';
const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'forbidden' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('revocation across two instances through Redis pub/sub', { skip: binary ? false : 'redis-server not installed' }, () => {
  let redis: RedisServer;
  let a: RunningSample;
  let b: RunningSample;
  let aliceToken: string;
  let adminToken: string;
  const aliceTokens: string[] = [];
  // The second of the last kick: admin:kick also revokes alice's credentials issued up to then.
  let kickedIn = 0;
  const sockets: WebSocket[] = [];

  before(async () => {
    redis = await RedisServer.start(binary!);
    a = await startSample({ redisUrl: redis.url });
    b = await startSample({ redisUrl: redis.url });
    aliceToken = await a.login('alice');
    aliceTokens.push(aliceToken);
    adminToken = await a.login('admin');
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  /**
   * A token of alice's that no earlier kick revoked: issued in a later second. Signed here as
   * the sample's login does, so it also works while Redis (which holds login sessions) is down.
   */
  async function aliceAfterKicks(): Promise<string> {
    while (nowSeconds() <= kickedIn) await sleep(20);
    aliceToken = jwt.sign({ sub: ALICE, username: 'alice', roles: ['user'] }, SAMPLE_TEST_SECRET, { expiresIn: 900 });
    aliceTokens.push(aliceToken);
    return aliceToken;
  }

  /** The status and reason an upgrade with `token` gets from `instance`. */
  async function upgradeWith(instance: RunningSample, token: string): Promise<{ status: number; reason?: string }> {
    const outcome = await openSocket(instance.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    if (outcome.kind === 'open') {
      outcome.socket.terminate();
      return { status: 101 };
    }
    assert.equal(outcome.kind, 'refused');
    if (outcome.kind !== 'refused') return { status: 0 };
    assert.ok(!outcome.body.includes(token));
    return { status: outcome.status, reason: JSON.parse(outcome.body).reason };
  }

  /** Authenticated during the upgrade, with the Authorization header. */
  async function onChat(instance: RunningSample, token: string): Promise<WebSocket> {
    const socket = await openOrFail(instance.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    sockets.push(socket);
    return socket;
  }

  /** Upgraded without credentials, then authenticated in-band with the first frame. */
  async function onLive(instance: RunningSample, token: string): Promise<WebSocket> {
    const socket = await openOrFail(instance.ws('/live'));
    sockets.push(socket);
    assert.equal((await request(socket, 'authenticate', { token }, 'authenticated')).event, 'authenticated');
    return socket;
  }

  /**
   * admin:stats once it reports `expected`, or its last answer after 2 s: a server drops a
   * socket from its count when the closing handshake ends, a moment after the client sees it.
   */
  async function statsSettled(admin: WebSocket, expected: number): Promise<number> {
    let connections = -1;
    for (const deadline = Date.now() + 2000; connections !== expected && Date.now() < deadline; await sleep(50)) {
      connections = (await request(admin, 'admin:stats')).data.connections;
    }
    return connections;
  }

  async function assertKicked(closing: Promise<{ code: number; reason: string }>, reason: string, where: string) {
    const outcome = await settledWithin(closing, 3000);
    assert.notEqual(outcome, 'timeout', `${where}: not closed within 3 s`);
    const { code, reason: text } = (outcome as { value: { code: number; reason: string } }).value;
    assert.equal(code, 4403, where);
    assert.equal(text, reason, where);
    assert.ok(Buffer.byteLength(text) <= 123, where);
    for (const token of [...aliceTokens, adminToken]) assert.ok(!text.includes(token), where);
  }

  async function assertOpen(socket: WebSocket, username: string) {
    assert.equal(socket.readyState, WebSocket.OPEN);
    assert.equal((await request(socket, 'whoami')).data.username, username);
  }

  async function closeAll(...open: WebSocket[]) {
    const done = open.map((socket) => closed(socket));
    for (const socket of open) socket.close();
    await Promise.all(done);
  }

  it('admin:kick on one instance closes every socket of the user on both, with 4403', async () => {
    const adminOnA = await onChat(a, adminToken);
    const adminOnB = await onChat(b, adminToken);
    const alice = [await onChat(a, aliceToken), await onLive(a, aliceToken), await onLive(b, aliceToken)];
    assert.equal(await statsSettled(adminOnA, 3), 3, 'A: admin and alice on /chat, alice on /live');
    assert.equal(await statsSettled(adminOnB, 2), 2, 'B: admin on /chat, alice on /live');

    const closings = alice.map((socket) => closed(socket));
    const answer = await request(adminOnA, 'admin:kick', { username: 'alice' });
    kickedIn = nowSeconds();

    assert.deepEqual(answer, { event: 'admin:kick', data: { username: 'alice', disconnected: 2 } });
    await assertKicked(closings[0]!, KICK_REASON, 'alice on A /chat');
    await assertKicked(closings[1]!, KICK_REASON, 'alice on A /live');
    await assertKicked(closings[2]!, KICK_REASON, 'alice on B /live');
    await assertOpen(adminOnA, 'admin');
    await assertOpen(adminOnB, 'admin');
    assert.equal(await statsSettled(adminOnA, 1), 1);
    assert.equal(await statsSettled(adminOnB, 1), 1);
    // The kick also revoked what alice held, on both instances: she has to log in again.
    const kicked = aliceToken;
    assert.deepEqual(await upgradeWith(a, kicked), { status: 401, reason: 'credential_revoked' });
    let onB = await upgradeWith(b, kicked);
    for (const deadline = Date.now() + 2000; onB.status !== 401 && Date.now() < deadline; await sleep(50)) onB = await upgradeWith(b, kicked);
    assert.deepEqual(onB, { status: 401, reason: 'credential_revoked' });
    assert.equal((await upgradeWith(b, await aliceAfterKicks())).status, 101);
    await closeAll(adminOnA, adminOnB);
  });

  it("refuses a non-admin's admin:kick with forbidden, and kicks nobody anywhere", async () => {
    await aliceAfterKicks();
    const adminOnA = await onChat(a, adminToken);
    const adminOnB = await onLive(b, adminToken);
    const aliceOnA = await onChat(a, aliceToken);
    const aliceOnB = await onLive(b, aliceToken);
    const everyone: Array<[WebSocket, string]> = [
      [adminOnA, 'admin'],
      [adminOnB, 'admin'],
      [aliceOnA, 'alice'],
      [aliceOnB, 'alice'],
    ];

    for (const [from, target] of [
      [aliceOnA, 'admin'],
      [aliceOnB, 'admin'],
      [aliceOnA, 'alice'],
    ] as const) {
      const exception = nextEvent(from, 'exception');
      from.send(JSON.stringify({ event: 'admin:kick', data: { username: target } }));
      assert.deepEqual((await exception).data, FORBIDDEN);
    }
    // A kick published anyway would have crossed a local Redis long before this.
    await sleep(300);
    for (const [socket, username] of everyone) await assertOpen(socket, username);
    assert.equal(await statsSettled(adminOnA, 2), 2);
    assert.equal(await statsSettled(adminOnB, 2), 2);
    await closeAll(...everyone.map(([socket]) => socket));
  });

  it('WsConnections.disconnect() called on one instance reaches the other', async () => {
    const adminOnA = await onChat(a, adminToken);
    const alice = [await onChat(a, aliceToken), await onLive(a, aliceToken), await onChat(b, aliceToken)];
    const closings = alice.map((socket) => closed(socket));

    assert.equal(await b.app.get(WsConnections).disconnect(ALICE, 'banned'), 1);

    await assertKicked(closings[0]!, 'Banned', 'alice on A /chat');
    await assertKicked(closings[1]!, 'Banned', 'alice on A /live');
    await assertKicked(closings[2]!, 'Banned', 'alice on B /chat');
    await assertOpen(adminOnA, 'admin');
    await closeAll(adminOnA);
  });

  it("closes with 'Revoked' on a bus message whose reason is not in the vocabulary: a message's text is never echoed", async () => {
    const publisher = createClient({ url: redis.url });
    await publisher.connect();
    try {
      for (const reason of ['Kicked by an admin', '<img src=x onerror=alert(1)>', 'toString', 'x'.repeat(500)]) {
        const alice = await onLive(b, aliceToken);
        const closing = closed(alice);
        // What a compromised or older instance could put on the shared channel.
        await publisher.publish('ws-auth:disconnect', JSON.stringify({ subject: ALICE, reason }));
        await assertKicked(closing, 'Revoked', `alice on B, after a message with reason ${JSON.stringify(reason.slice(0, 30))}`);
      }
    } finally {
      publisher.destroy();
    }
  });

  describe('while Redis is down', () => {
    // PUBLISH fails at once on a closed connection unless the client queues it; 3 s is
    // longer than anything but a queue (the connect timeout is 2 s).
    const REPORTED_WITHIN_MS = 3000;
    let adminOnA: WebSocket;
    let aliceOnB: WebSocket;

    before(async () => {
      adminOnA = await onChat(a, adminToken);
      aliceOnB = await onLive(b, aliceToken);
      await redis.stop();
      // Let both instances see their Redis connections drop.
      await sleep(200);
    });

    it('a kick still closes the local sockets on the issuing instance', async () => {
      // An admin socket of its own: the answer to this kick must not reach the next test.
      const kicker = await onChat(a, adminToken);
      const aliceOnA = await onChat(a, await aliceAfterKicks());
      const closing = closed(aliceOnA);
      kicker.send(JSON.stringify({ event: 'admin:kick', data: { username: 'alice' } }));
      await assertKicked(closing, KICK_REASON, 'alice on A, the issuing instance');
      kickedIn = nowSeconds();
      // A holds the revocation although Redis could not: alice's token opens nothing here.
      assert.deepEqual(await upgradeWith(a, aliceToken), { status: 401, reason: 'credential_revoked' });
    });

    it('admin:kick answers the admin with an exception frame when the publish fails', async () => {
      const aliceOnA = await onChat(a, await aliceAfterKicks());
      const closing = closed(aliceOnA);
      const answer = settledWithin(nextEvent(adminOnA, undefined, REPORTED_WITHIN_MS), REPORTED_WITHIN_MS);
      adminOnA.send(JSON.stringify({ event: 'admin:kick', data: { username: 'alice' } }));

      await assertKicked(closing, KICK_REASON, 'alice on A, the issuing instance');
      kickedIn = nowSeconds();
      const frame = await answer;
      assert.ok(frame !== 'timeout' && 'value' in frame, `the admin got no answer within ${REPORTED_WITHIN_MS} ms`);
      assert.equal(frame.value.event, 'exception');
      assert.equal(frame.value.data.status, 'error');
      assert.ok(!JSON.stringify(frame.value).includes(aliceToken));
      // Both apps share Nest's static logger in this process: the line lands in whichever log was set last.
      // admin:kick revokes: the revocation store reports that it could not share the revocation.
      assert.match(a.logs.text() + b.logs.text(), /Revocation store unavailable \(Redis/);
    });

    it('WsConnections.disconnect() closes the local sockets, then rejects', async () => {
      const aliceOnA = await onChat(a, await aliceAfterKicks());
      const closing = closed(aliceOnA);
      const outcome = settledWithin(a.app.get(WsConnections).disconnect(ALICE, 'banned'), REPORTED_WITHIN_MS);
      await assertKicked(closing, 'Banned', 'alice on A, the issuing instance');
      const settled = await outcome;
      assert.ok(settled !== 'timeout', `disconnect() neither resolved nor rejected within ${REPORTED_WITHIN_MS} ms`);
      assert.ok('error' in settled, 'disconnect() resolved although nothing was published');
    });

    it('leaves both instances serving, and the other instance untouched', async () => {
      await assertOpen(adminOnA, 'admin');
      await assertOpen(aliceOnB, 'alice');
      // New sockets still open on both: verifying a token needs no Redis. (Logging in does: the
      // sample keeps its login sessions there.)
      for (const instance of [a, b]) await assertOpen(await onChat(instance, adminToken), 'admin');
    });
  });

  describe('once Redis is back', () => {
    before(() => redis.resume());

    it('a kick on one instance reaches the other again (the subscriber resubscribed)', async () => {
      const connections = a.app.get(WsConnections);
      const restarted = Date.now();
      // Publishes are FIFO: once one for nobody goes through, the kicks held back while Redis
      // was down have been sent too, and cannot close the socket below with their own reason.
      let publishing = false;
      while (!publishing && Date.now() - restarted < 10_000) {
        const outcome = await settledWithin(connections.disconnect('nobody'), 500);
        publishing = outcome !== 'timeout' && 'value' in outcome;
        if (!publishing) await sleep(100);
      }
      assert.ok(publishing, 'A publishes again within 10 s');
      const published = Date.now();

      const aliceOnB = await onLive(b, await aliceAfterKicks());
      const closing = closed(aliceOnB);
      let attempts = 0;
      // Pub/sub keeps nothing: a kick published before B's subscriber is back is lost, so retry.
      while (aliceOnB.readyState === WebSocket.OPEN && Date.now() - published < 10_000) {
        attempts++;
        await settledWithin(connections.disconnect(ALICE, 'logged_out'), 500);
        await settledWithin(closing, 250);
      }
      console.log(
        `after Redis restarted: A published again at +${published - restarted} ms; ` +
          `a kick reached B at +${Date.now() - restarted} ms (${attempts} kick attempts)`,
      );
      await assertKicked(closing, 'Logged Out', 'alice on B');

      const again = await onLive(b, aliceToken);
      const closingAgain = closed(again);
      assert.equal(await connections.disconnect(ALICE, 'logged_out'), 0);
      await assertKicked(closingAgain, 'Logged Out', 'alice on B, at the first attempt');
    });
  });

  it('never logs a token', () => {
    const logs = a.logs.text() + b.logs.text();
    for (const token of [...aliceTokens, adminToken]) assert.ok(!logs.includes(token));
  });
});
