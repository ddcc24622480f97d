import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { TOPIC_TOKEN_TYPE, WsConnections } from '../../lib/index.js';
import { MAX_SAY_LENGTH } from '../../sample/chat-payloads.js';
import { UsersService } from '../../sample/users.service.js';
import { SAMPLE_TEST_SECRET, startSample, type RunningSample } from '../support/sample-app.js';
import { openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { openSocket } from '../support/ws-client.js';
import { Secrets } from '../support/secrets.js';
import { BAD_REQUEST, FORBIDDEN, frameOf } from '../support/exception-frames.js';
import { bearer, askTopicToken, onChat, onLive, exceptionFor, join, closeAll } from '../support/sample-topics-client.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function login(sample: RunningSample, username: string, secrets: Secrets): Promise<string> {
  return secrets.add(await sample.login(username));
}

async function topicToken(sample: RunningSample, accessToken: string, topic: string, secrets: Secrets): Promise<string> {
  const response = await askTopicToken(sample, accessToken, { topic });
  assert.equal(response.status, 200, response.body);
  return secrets.add(response.json().token as string);
}

/** Nothing of `event` arrived before the answer to a later request: frames on one socket keep their order. */
async function assertNoneBefore(socket: SocketWitness, event: string) {
  await socket.request('whoami');
  assert.deepEqual(socket.events(event), [], `no "${event}" frame`);
}

describe('sample topics: join, leave, say, topic tokens, /admin and admin:set-roles', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  let users: UsersService;
  let connections: WsConnections;
  let aliceToken: string;
  let adminToken: string;
  const secrets = new Secrets();
  before(async () => {
    sample = await startSample();
    users = sample.app.get(UsersService);
    connections = sample.app.get(WsConnections);
    aliceToken = await login(sample, 'alice', secrets);
    adminToken = await login(sample, 'admin', secrets);
  });
  after(() => sample?.close());

  describe('rooms', () => {
    it('join room:general answers joined with expiresAt null; say reaches every member on /chat and /live, from the identity', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onLive(sample, adminToken);
      const outsider = await onChat(sample, aliceToken);
      assert.deepEqual(await join(alice, 'room:general'), { event: 'joined', data: { topic: 'room:general', expiresAt: null } });
      assert.deepEqual(await join(admin, 'room:general'), { event: 'joined', data: { topic: 'room:general', expiresAt: null } });

      alice.send('say', { topic: 'room:general', text: 'hello', from: 'admin' });
      const expected = { event: 'message', data: { topic: 'room:general', from: 'alice', text: 'hello' } };
      assert.deepEqual(frameOf(await alice.next('message')), expected);
      assert.deepEqual(frameOf(await admin.next('message')), expected);
      await assertNoneBefore(outsider, 'message');
      await closeAll(alice, admin, outsider);
    });

    it('leave answers left; a left member gets no more messages and may not say there', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onChat(sample, adminToken);
      await join(alice, 'room:general');
      await join(admin, 'room:general');
      assert.deepEqual(frameOf(await alice.request('leave', { topic: 'room:general' }, 'left')), { event: 'left', data: { topic: 'room:general' } });
      admin.send('say', { topic: 'room:general', text: 'still there?' });
      await admin.next('message');
      await assertNoneBefore(alice, 'message');
      assert.deepEqual(await exceptionFor(alice, 'say', { topic: 'room:general', text: 'back' }), FORBIDDEN);
      // Leaving what one is not in is answered the same: nothing to tell apart.
      assert.deepEqual(frameOf(await alice.request('leave', { topic: 'room:general' }, 'left')), { event: 'left', data: { topic: 'room:general' } });
      await closeAll(alice, admin);
    });

    it('say to a topic not joined is refused (forbidden) and reaches nobody', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onChat(sample, adminToken);
      await join(admin, 'room:general');
      assert.deepEqual(await exceptionFor(alice, 'say', { topic: 'room:general', text: 'sneaking in' }), FORBIDDEN);
      await assertNoneBefore(admin, 'message');
      await closeAll(alice, admin);
    });

    it('room:admins: admins join, alice is refused (forbidden) and the socket stays open', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onChat(sample, adminToken);
      assert.deepEqual(await exceptionFor(alice, 'join', { topic: 'room:admins' }), FORBIDDEN);
      assert.deepEqual(await join(admin, 'room:admins'), { event: 'joined', data: { topic: 'room:admins', expiresAt: null } });
      await closeAll(alice, admin);
    });

    it('a topic without a policy opens to nobody without a token', async () => {
      const admin = await onChat(sample, adminToken);
      assert.deepEqual(await exceptionFor(admin, 'join', { topic: 'room:secret' }), FORBIDDEN);
      assert.deepEqual(await exceptionFor(admin, 'join', { topic: 'doc:1' }), FORBIDDEN);
      await admin.close();
    });

    const malformed: Array<[string, unknown]> = [
      ['join', undefined],
      ['join', 'room:general'],
      ['join', { topic: 42 }],
      ['join', { topic: '' }],
      ['join', { topic: 'room general' }],
      ['join', { topic: 'x'.repeat(101) }],
      ['join', { topic: 'room:general', token: 7 }],
      ['leave', {}],
      ['leave', ['room:general']],
      ['say', { topic: 'room:general' }],
      ['say', { topic: 'room:general', text: '' }],
      ['say', { topic: 'room:general', text: 'x'.repeat(MAX_SAY_LENGTH + 1) }],
      ['say', { topic: 'room:general', text: { nested: true } }],
      ['admin:set-roles', { username: 'alice', roles: ['root'] }],
      ['admin:set-roles', { username: 'alice', roles: 'admin' }],
      ['admin:set-roles', { username: 'alice' }],
    ];
    for (const [event, data] of malformed) {
      it(`${event} ${JSON.stringify(data)?.slice(0, 60)} is a bad request, answered without an echo`, async () => {
        const admin = await onChat(sample, adminToken);
        await join(admin, 'room:general');
        const answer = await admin.request(event, data, 'exception');
        assert.deepEqual(frameOf(answer), { event: 'exception', data: BAD_REQUEST });
        await assertNoneBefore(admin, 'message');
        await admin.close();
      });
    }

    it('a say of exactly the longest text goes out', async () => {
      const alice = await onChat(sample, aliceToken);
      await join(alice, 'room:general');
      alice.send('say', { topic: 'room:general', text: 'x'.repeat(MAX_SAY_LENGTH) });
      assert.equal((await alice.next('message')).data.text.length, MAX_SAY_LENGTH);
      await alice.close();
    });
  });

  describe('POST /auth/topic-token', () => {
    it('answers alice for doc:1 with a topic+jwt token for exactly that topic', async () => {
      const response = await askTopicToken(sample, aliceToken, { topic: 'doc:1' });
      assert.equal(response.status, 200, response.body);
      assert.equal(response.headers['cache-control'], 'no-store');
      const body = response.json();
      assert.deepEqual(Object.keys(body).sort(), ['expires_in', 'token']);
      assert.equal(body.expires_in, 300);
      const token = secrets.add(body.token as string);
      const { header, payload } = jwt.verify(token, SAMPLE_TEST_SECRET, { complete: true }) as jwt.Jwt & { payload: jwt.JwtPayload };
      assert.equal(header.typ, TOPIC_TOKEN_TYPE);
      assert.equal(header.alg, 'HS256');
      assert.deepEqual(Object.keys(payload).sort(), ['exp', 'iat', 'jti', 'sub', 'topic']);
      assert.equal(payload.sub, '1');
      assert.equal(payload.topic, 'doc:1');
      assert.match(String(payload.jti), UUID);
      assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 300);
      assert.ok(!response.body.includes(aliceToken));
    });

    it('answers admin for any doc:<id>, 403 to alice for another document', async () => {
      const granted = await askTopicToken(sample, adminToken, { topic: 'doc:2' });
      assert.equal(granted.status, 200);
      const claims = jwt.verify(secrets.add(granted.json().token as string), SAMPLE_TEST_SECRET) as jwt.JwtPayload;
      assert.deepEqual([claims.sub, claims.topic], ['2', 'doc:2']);
      const refused = await askTopicToken(sample, aliceToken, { topic: 'doc:2' });
      assert.equal(refused.status, 403);
      secrets.assertAbsentFrom(refused.body + JSON.stringify(refused.headers), 'a refusal');
    });

    it('answers 401 without a bearer, with a bad one, with a topic token and with a logged-out one (before reading the body)', async () => {
      const loggedOut = await login(sample, 'alice', secrets);
      assert.equal((await sample.post('/auth/logout', { headers: bearer(loggedOut) })).status, 204);
      const aTopicToken = await topicToken(sample, aliceToken, 'doc:1', secrets);
      const forged = secrets.add(
        jwt.sign({ sub: '2', jti: 'x', username: 'admin', roles: ['admin'] }, 'not-the-secret-0123456789-0123456789', { expiresIn: 60 }),
      );
      const ghost = secrets.add(jwt.sign({ sub: '999', jti: 'y', username: 'ghost', roles: ['admin'] }, SAMPLE_TEST_SECRET, { expiresIn: 60 }));
      for (const [what, token] of [
        ['no header', undefined],
        ['not a JWT', 'not-a-jwt'],
        ['another key', forged],
        ['an unknown user', ghost],
        ['a topic token', aTopicToken],
        ['a logged-out token', loggedOut],
      ] as const) {
        const response = await askTopicToken(sample, token, { topic: 'not a doc' });
        assert.equal(response.status, 401, what);
        secrets.assertAbsentFrom(response.body + JSON.stringify(response.headers), `the refusal of ${what}`);
      }
      const basic = await sample.post('/auth/topic-token', { headers: { Authorization: `Basic ${aliceToken}` }, json: { topic: 'doc:1' } });
      assert.equal(basic.status, 401);
    });

    for (const body of [
      undefined,
      {},
      { topic: 5 },
      { topic: 'doc:' },
      { topic: 'room:general' },
      { topic: 'doc:1 ' },
      { topic: ['doc:1'] },
      { topic: `doc:${'1'.repeat(65)}` },
    ]) {
      it(`answers 400 for ${JSON.stringify(body)}`, async () => {
        const response = await askTopicToken(sample, adminToken, body);
        assert.equal(response.status, 400);
        secrets.assertAbsentFrom(response.body, 'a 400');
      });
    }
  });

  describe('doc:<id> topics', () => {
    it('alice joins doc:1 with her token (expiresAt is its exp); not doc:2 with it, nor with a token of admin', async () => {
      const token = await topicToken(sample, aliceToken, 'doc:1', secrets);
      const adminsDoc2 = await topicToken(sample, adminToken, 'doc:2', secrets);
      const alice = await onChat(sample, aliceToken);
      const exp = (jwt.decode(token) as jwt.JwtPayload).exp!;
      assert.deepEqual(await join(alice, 'doc:1', token), { event: 'joined', data: { topic: 'doc:1', expiresAt: exp * 1000 } });
      assert.deepEqual(await exceptionFor(alice, 'join', { topic: 'doc:2', token }), FORBIDDEN);
      assert.deepEqual(await exceptionFor(alice, 'join', { topic: 'doc:2', token: adminsDoc2 }), FORBIDDEN);
      assert.deepEqual(await exceptionFor(alice, 'join', { topic: 'doc:2', token: 'not-a-jwt' }), FORBIDDEN);
      alice.send('say', { topic: 'doc:1', text: 'on doc 1' });
      assert.deepEqual(frameOf(await alice.next('message')), { event: 'message', data: { topic: 'doc:1', from: 'alice', text: 'on doc 1' } });
      secrets.assertAbsentFrom(alice.seen(), 'frames to alice');
      await alice.close();
    });

    it('an access token is no topic token', async () => {
      const alice = await onChat(sample, aliceToken);
      assert.deepEqual(await exceptionFor(alice, 'join', { topic: 'doc:1', token: aliceToken }), FORBIDDEN);
      await alice.close();
    });
  });

  describe('/admin', () => {
    it('refuses alice with 403 at the upgrade, with no credential in the answer or the log', async () => {
      const outcome = await openSocket(sample.ws('/admin'), { headers: bearer(aliceToken) });
      assert.equal(outcome.kind, 'refused');
      if (outcome.kind !== 'refused') return;
      assert.equal(outcome.status, 403);
      secrets.assertAbsentFrom(outcome.body + JSON.stringify(outcome.headers), 'the /admin refusal');
      assert.equal((await openSocket(sample.ws('/admin'))).kind, 'refused', 'no credential: no socket either');
    });

    it('opens (101) for admin, whose admin:stats answers as on /chat', async () => {
      const admin = await openWitnessed(sample.ws('/admin'), { headers: bearer(adminToken) });
      const answer = frameOf(await admin.request('admin:stats'));
      assert.deepEqual(answer, { event: 'admin:stats', data: { connections: connections.count() } });
      const chat = await onChat(sample, adminToken);
      assert.deepEqual(frameOf(await chat.request('admin:stats')), { event: 'admin:stats', data: { connections: connections.count() } });
      await closeAll(admin, chat);
    });
  });

  describe('admin:set-roles', () => {
    it('promotes and demotes alice in place on every gateway: room:admins and admin events follow, no reconnect', async () => {
      const admin = await openWitnessed(sample.ws('/admin'), { headers: bearer(adminToken) });
      const alice = await onChat(sample, aliceToken);
      const aliceLive = await onLive(sample, aliceToken);
      await join(alice, 'room:general');

      const promoted = frameOf(await admin.request('admin:set-roles', { username: 'alice', roles: ['admin', 'user', 'admin'] }));
      assert.deepEqual(promoted, { event: 'admin:set-roles', data: { username: 'alice', roles: ['user', 'admin'] } });
      assert.deepEqual((await alice.request('whoami')).data, { username: 'alice', roles: ['user', 'admin'] });
      assert.deepEqual(await join(alice, 'room:admins'), { event: 'joined', data: { topic: 'room:admins', expiresAt: null } });
      assert.deepEqual(await join(aliceLive, 'room:admins'), { event: 'joined', data: { topic: 'room:admins', expiresAt: null } });
      assert.equal((await alice.request('admin:stats')).event, 'admin:stats');

      const demoted = frameOf(await admin.request('admin:set-roles', { username: 'alice', roles: ['user'] }));
      assert.deepEqual(demoted, { event: 'admin:set-roles', data: { username: 'alice', roles: ['user'] } });
      for (const socket of [alice, aliceLive]) {
        assert.deepEqual(frameOf(await socket.next('unsubscribed')), { event: 'unsubscribed', data: { topic: 'room:admins', reason: 'forbidden' } });
        assert.deepEqual(await exceptionFor(socket, 'admin:stats'), FORBIDDEN);
        assert.deepEqual((await socket.request('whoami')).data, { username: 'alice', roles: ['user'] });
      }
      // What the roles never decided stays: she is still in room:general.
      alice.send('say', { topic: 'room:general', text: 'still here' });
      assert.equal((await alice.next('message')).data.text, 'still here');
      assert.equal(alice.socket.readyState, alice.socket.OPEN);
      await closeAll(admin, alice, aliceLive);
    });

    it('demotes an admin: it leaves room:admins (unsubscribed forbidden), admin:stats is refused, its /admin socket closes (4403) and /admin opens no more', async () => {
      const adminChat = await onChat(sample, adminToken);
      const adminPanel = await openWitnessed(sample.ws('/admin'), { headers: bearer(adminToken) });
      await join(adminChat, 'room:admins');
      await join(adminChat, 'room:general');
      try {
        const panelClosed = adminPanel.closed;
        const answer = frameOf(await adminChat.request('admin:set-roles', { username: 'admin', roles: ['user'] }));
        assert.deepEqual(answer, { event: 'admin:set-roles', data: { username: 'admin', roles: ['user'] } });
        // /admin requires the role of the connection, not only of each message: judged again at the re-check.
        assert.equal((await panelClosed).code, 4403);
        assert.deepEqual(frameOf(await adminChat.next('unsubscribed')), { event: 'unsubscribed', data: { topic: 'room:admins', reason: 'forbidden' } });
        assert.deepEqual(await exceptionFor(adminChat, 'admin:stats'), FORBIDDEN);
        assert.deepEqual(await exceptionFor(adminChat, 'admin:set-roles', { username: 'admin', roles: ['user', 'admin'] }), FORBIDDEN);
        assert.deepEqual(await exceptionFor(adminChat, 'join', { topic: 'room:admins' }), FORBIDDEN);
        const reopened = await openSocket(sample.ws('/admin'), { headers: bearer(adminToken) });
        assert.equal(reopened.kind === 'refused' && reopened.status, 403);
        assert.equal((await askTopicToken(sample, adminToken, { topic: 'doc:2' })).status, 403, 'topic tokens follow the roles too');
        assert.equal(adminChat.socket.readyState, adminChat.socket.OPEN);
      } finally {
        await users.setRoles('2', ['user', 'admin']);
        await connections.revalidate('2');
        await closeAll(adminChat, adminPanel);
      }
    });

    it('answers username null for an unknown user, on /chat as on /admin', async () => {
      const admin = await onChat(sample, adminToken);
      for (const username of ['mallory', 42, undefined]) {
        assert.deepEqual(frameOf(await admin.request('admin:set-roles', { username, roles: ['admin'] })), {
          event: 'admin:set-roles',
          data: { username: null, roles: [] },
        });
      }
      await admin.close();
    });

    it('is refused to non-admins, and changes nothing', async () => {
      const alice = await onChat(sample, aliceToken);
      assert.deepEqual(await exceptionFor(alice, 'admin:set-roles', { username: 'alice', roles: ['user', 'admin'] }), FORBIDDEN);
      assert.deepEqual((await users.current('1'))?.roles, ['user']);
      await alice.close();
    });
  });

  it('never logs a credential', () => {
    secrets.assertAbsentFrom(sample.logs.text(), 'the log');
  });
});

describe('sample topics: topic token expiry (TOPIC_TOKEN_TTL_S=2, WS_EXPIRY_WARNING_MS=1000)', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  let aliceToken: string;
  const secrets = new Secrets();
  before(async () => {
    sample = await startSample({ topicTokenTtlSeconds: 2, expiryWarningMs: 1000 });
    aliceToken = await login(sample, 'alice', secrets);
  });
  after(() => sample?.close());

  it('warns with topic_expiring, then leaves with unsubscribed expired; the socket stays open', async () => {
    const token = await topicToken(sample, aliceToken, 'doc:1', secrets);
    const expiresAt = (jwt.decode(token) as jwt.JwtPayload).exp! * 1000;
    const alice = await onChat(sample, aliceToken);
    await join(alice, 'doc:1', token);
    assert.deepEqual(frameOf(await alice.next('topic_expiring', 5000)), { event: 'topic_expiring', data: { topic: 'doc:1', expiresAt } });
    assert.deepEqual(frameOf(await alice.next('unsubscribed', 5000)), { event: 'unsubscribed', data: { topic: 'doc:1', reason: 'expired' } });
    assert.deepEqual(await exceptionFor(alice, 'say', { topic: 'doc:1', text: 'gone?' }), FORBIDDEN);
    assert.equal(alice.socket.readyState, alice.socket.OPEN);
    await alice.close();
  });

  it('a fresh token joined on topic_expiring (the demo page does this) keeps the member in past the first expiry', async () => {
    const first = await topicToken(sample, aliceToken, 'doc:1', secrets);
    const firstExpiry = (jwt.decode(first) as jwt.JwtPayload).exp! * 1000;
    const alice = await onChat(sample, aliceToken);
    await join(alice, 'doc:1', first);
    await alice.next('topic_expiring', 5000);
    const fresh = await topicToken(sample, aliceToken, 'doc:1', secrets);
    const rejoined = await join(alice, 'doc:1', fresh);
    assert.ok(rejoined.data.expiresAt > firstExpiry, JSON.stringify(rejoined));
    // Until the first token's end has passed on the server's clock, plus a margin for its timer.
    while (Date.now() < firstExpiry + 300) await new Promise((resolve) => setTimeout(resolve, 50));
    alice.send('say', { topic: 'doc:1', text: 'still in' });
    // Said and heard as a member: a socket let go at the first expiry is refused instead.
    assert.equal((await alice.next('message')).data.text, 'still in');
    assert.deepEqual(alice.events('unsubscribed'), []);
    await alice.close();
  });

  it('never logs a credential', () => {
    secrets.assertAbsentFrom(sample.logs.text(), 'the log');
  });
});

describe('sample topics: periodic re-check (WS_REVALIDATE_MS)', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  const secrets = new Secrets();
  before(async () => {
    sample = await startSample({ revalidateMs: 200 });
  });
  after(() => sample?.close());

  it('a role changed in the store without admin:set-roles reaches the open connection by itself', async () => {
    const alice = await onChat(sample, await login(sample, 'alice', secrets));
    await sample.app.get(UsersService).setRoles('1', ['user', 'admin']);
    await join(alice, 'room:general');
    // Bounded: the sweep comes every 200 ms; 40 tries of at least 100 ms are far past a few sweeps.
    let joinedAdmins: unknown;
    for (let tries = 0; tries < 40 && !joinedAdmins; tries++) {
      const answer = await alice.request('join', { topic: 'room:admins' }, 'joined', 100).catch(() => undefined);
      joinedAdmins = answer && frameOf(answer);
    }
    assert.deepEqual(joinedAdmins, { event: 'joined', data: { topic: 'room:admins', expiresAt: null } });
    await sample.app.get(UsersService).setRoles('1', ['user']);
    assert.deepEqual(frameOf(await alice.next('unsubscribed', 5000)), { event: 'unsubscribed', data: { topic: 'room:admins', reason: 'forbidden' } });
    assert.equal(alice.socket.readyState, alice.socket.OPEN);
    await alice.close();
  });
});
