import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { TOPIC_TOKEN_TYPE, WsConnections } from '../../lib/index.js';
import { UsersService } from '../../sample/users.service.js';
import { SAMPLE_TEST_SECRET, startSample, type RunningSample } from '../support/sample-app.js';
import { openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { openSocket } from '../support/ws-client.js';
import { Secrets } from '../support/secrets.js';
import { BAD_REQUEST, FORBIDDEN, frameOf } from '../support/exception-frames.js';
import { bearer, askTopicToken, onChat, onLive, exceptionFor, join, closeAll } from '../support/sample-topics-client.js';

/** A POST with a body as written, for content types other than JSON. */
function rawPost(sample: RunningSample, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: sample.config.host, port: sample.config.port, path, method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** An access token as the sample signs one, with claims the test chooses: to probe the route's own checks. */
function accessLike(claims: Record<string, unknown>, options: jwt.SignOptions = {}): string {
  return jwt.sign(claims, SAMPLE_TEST_SECRET, { algorithm: 'HS256', ...options });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('attack: the sample /admin, topics and topic tokens', { timeout: 60_000 }, () => {
  let sample: RunningSample;
  let users: UsersService;
  let connections: WsConnections;
  let aliceToken: string;
  let adminToken: string;
  const secrets = new Secrets();

  before(async () => {
    sample = await startSample({ ticketThrottle: { limit: 1000, ttlSeconds: 60 }, loginThrottle: { limit: 1000, ttlSeconds: 60 } });
    users = sample.app.get(UsersService);
    connections = sample.app.get(WsConnections);
    aliceToken = secrets.add(await sample.login('alice'));
    adminToken = secrets.add(await sample.login('admin'));
  });
  after(() => sample?.close());

  async function ticketOf(accessToken: string): Promise<string> {
    const response = await sample.post('/auth/ws-ticket', { headers: bearer(accessToken) });
    assert.equal(response.status, 200, response.body);
    return secrets.add(response.json().ticket as string);
  }

  async function restoreAdmin() {
    await users.setRoles('2', ['user', 'admin']);
    await connections.revalidate('2');
  }

  describe('/admin: every credential source meets the same requirement', () => {
    it('alice is refused 403 by header, ticket, cookie and bearer subprotocol; admin is admitted by each', async () => {
      const attempts = async (token: string) => [
        await openSocket(sample.ws('/admin'), { headers: bearer(token) }),
        await openSocket(sample.ws(`/admin?ticket=${encodeURIComponent(await ticketOf(token))}`), { headers: { Origin: sample.origin } }),
        await openSocket(sample.ws('/admin'), { headers: { Cookie: `access_token=${token}`, Origin: sample.origin } }),
        await openSocket(sample.ws('/admin'), { protocols: ['chat', `bearer.${token}`], headers: { Origin: sample.origin } }),
      ];
      for (const [index, outcome] of (await attempts(aliceToken)).entries()) {
        assert.equal(outcome.kind === 'refused' && outcome.status, 403, `alice, source #${index}: ${JSON.stringify(outcome).slice(0, 200)}`);
        if (outcome.kind === 'refused') secrets.assertAbsentFrom(outcome.body + JSON.stringify(outcome.headers), 'a /admin refusal');
      }
      for (const [index, outcome] of (await attempts(adminToken)).entries()) {
        assert.equal(outcome.kind, 'open', `admin, source #${index}: ${JSON.stringify(outcome).slice(0, 200)}`);
        if (outcome.kind === 'open') outcome.socket.close();
      }
    });

    it('a ticket issued to an admin and traded after the demotion opens nothing (403)', async () => {
      const ticket = await ticketOf(adminToken);
      await users.setRoles('2', ['user']);
      try {
        const outcome = await openSocket(sample.ws(`/admin?ticket=${encodeURIComponent(ticket)}`), { headers: { Origin: sample.origin } });
        assert.equal(outcome.kind === 'refused' && outcome.status, 403);
      } finally {
        await restoreAdmin();
      }
    });

    it("a demoted admin's open /admin socket is closed (4403) at the re-check: it can neither act nor re-promote itself, and a fresh login does not reopen /admin", async () => {
      const panel = await openWitnessed(sample.ws('/admin'), { headers: bearer(adminToken) });
      try {
        // Demoting itself: the re-check closes the very socket that asked, before its answer.
        panel.send('admin:set-roles', { username: 'admin', roles: ['user'] });
        const closed = await panel.closed;
        assert.equal(closed.code, 4403);
        assert.equal(panel.events('admin:set-roles').length, 0);
        secrets.assertAbsentFrom(panel.seen(closed), 'the closed /admin socket');
        const fresh = secrets.add(await sample.login('admin'));
        const reopened = await openSocket(sample.ws('/admin'), { headers: bearer(fresh) });
        assert.equal(reopened.kind === 'refused' && reopened.status, 403);
        assert.deepEqual((await users.current('2'))?.roles, ['user']);
      } finally {
        await restoreAdmin();
        await panel.close();
      }
    });
  });

  describe('POST /auth/topic-token', () => {
    it('401 for an expired access token, one without iat or jti, an alg:none one, and one typed otherwise', async () => {
      const base = { sub: '1', username: 'alice', roles: ['user'], jti: 'j-1' };
      const cases: Array<[string, string]> = [
        ['expired', accessLike({ ...base, iat: nowSeconds() - 120, exp: nowSeconds() - 60 })],
        ['no iat', accessLike({ ...base, exp: nowSeconds() + 60 }, { noTimestamp: true })],
        ['no jti', accessLike({ sub: '1', iat: nowSeconds(), exp: nowSeconds() + 60 })],
        ['typ at+jwt', accessLike({ ...base, iat: nowSeconds(), exp: nowSeconds() + 60 }, { header: { alg: 'HS256', typ: 'at+jwt' } })],
        [
          'alg none',
          `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...base, iat: nowSeconds() })).toString('base64url')}.`,
        ],
        [
          'a topic token for doc:1',
          accessLike({ sub: '1', topic: 'doc:1', iat: nowSeconds(), exp: nowSeconds() + 60, jti: 'x' }, { header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } }),
        ],
        ['sub as a number', accessLike({ ...base, sub: 1, iat: nowSeconds(), exp: nowSeconds() + 60 })],
      ];
      for (const [what, token] of cases) {
        secrets.add(token);
        const response = await askTopicToken(sample, token, { topic: 'doc:1' });
        assert.equal(response.status, 401, what);
        secrets.assertAbsentFrom(response.body + JSON.stringify(response.headers), `the refusal of ${what}`);
      }
    });

    it('roles come from the store, not the token: alice with roles ["admin"] in her token gets no doc:2 (403)', async () => {
      const token = secrets.add(accessLike({ sub: '1', username: 'alice', roles: ['admin'], jti: 'forged-roles', iat: nowSeconds(), exp: nowSeconds() + 60 }));
      assert.equal((await askTopicToken(sample, token, { topic: 'doc:2' })).status, 403);
    });

    it('a kicked user gets no topic token with the tokens issued before the kick (401), and does after logging in again', async () => {
      const before = secrets.add(await sample.login('alice'));
      const admin = await onChat(sample, adminToken);
      try {
        assert.equal((await admin.request('admin:kick', { username: 'alice' })).event, 'admin:kick');
        assert.equal((await askTopicToken(sample, before, { topic: 'doc:1' })).status, 401);
        await sleep(1100);
        const after = secrets.add(await sample.login('alice'));
        assert.equal((await askTopicToken(sample, after, { topic: 'doc:1' })).status, 200);
        aliceToken = after;
      } finally {
        await admin.close();
      }
    });

    const injected: unknown[] = [
      'doc:1\n',
      '\ndoc:1',
      'doc:1\u0000',
      'doc:1*',
      'doc:*',
      'doc:../2',
      'doc:1/../2',
      'doc:\u0661',
      'DOC:1',
      'doc:1\u200b',
      'doc：1',
      ' doc:1',
      `doc:${'a'.repeat(100_000)}`,
      { toString: 'doc:1' },
      null,
      true,
    ];
    for (const topic of injected) {
      it(`topic ${JSON.stringify(topic)?.slice(0, 40)}: 400 for admin, who could have any document`, async () => {
        const response = await askTopicToken(sample, adminToken, { topic });
        assert.ok(response.status === 400 || response.status === 413, `got ${response.status}`);
        secrets.assertAbsentFrom(response.body, 'a 400');
      });
    }

    it('bodies other than a JSON object: an array, a JSON string, a urlencoded array are 400; a urlencoded topic is read as the JSON one', async () => {
      const headers = (type: string) => ({ ...bearer(adminToken), 'content-type': type });
      assert.equal((await rawPost(sample, '/auth/topic-token', headers('application/json'), '["doc:1"]')).status, 400);
      assert.equal((await rawPost(sample, '/auth/topic-token', headers('application/json'), '"doc:1"')).status, 400);
      assert.equal((await rawPost(sample, '/auth/topic-token', headers('application/x-www-form-urlencoded'), 'topic[]=doc:1')).status, 400);
      assert.equal((await rawPost(sample, '/auth/topic-token', headers('application/x-www-form-urlencoded'), 'topic[a]=doc:1')).status, 400);
      assert.equal((await rawPost(sample, '/auth/topic-token', headers('text/plain'), 'topic=doc:1')).status, 400);
      const aliceForm = await rawPost(
        sample,
        '/auth/topic-token',
        { ...bearer(aliceToken), 'content-type': 'application/x-www-form-urlencoded' },
        'topic=doc:2',
      );
      assert.equal(aliceForm.status, 403, 'the same decision whatever the encoding');
      const proto = await rawPost(sample, '/auth/topic-token', headers('application/json'), '{"__proto__":{"topic":"doc:1"}}');
      assert.equal(proto.status, 400);
    });

    it('a doc:2 token an admin got before the demotion does not open doc:2 after it', async () => {
      const response = await askTopicToken(sample, adminToken, { topic: 'doc:2' });
      const doc2 = secrets.add(response.json().token as string);
      const chat = await onChat(sample, adminToken);
      try {
        await users.setRoles('2', ['user']);
        await connections.revalidate('2');
        assert.equal((await askTopicToken(sample, adminToken, { topic: 'doc:2' })).status, 403, 'the route itself refuses now');
        const answer = await chat.request('join', { topic: 'doc:2', token: doc2 }, 'joined', 1000).catch(() => undefined);
        assert.equal(answer, undefined, `the demoted admin joined doc:2 with the old token: ${answer?.text}`);
      } finally {
        await restoreAdmin();
        await chat.close();
      }
    });

    it('a demoted admin already in doc:2 (joined with a token only an admin could get) leaves it at the re-check', async () => {
      const doc2 = secrets.add((await askTopicToken(sample, adminToken, { topic: 'doc:2' })).json().token as string);
      const chat = await onChat(sample, adminToken);
      try {
        await join(chat, 'doc:2', doc2);
        await users.setRoles('2', ['user']);
        await connections.revalidate('2');
        const left = await chat.next('unsubscribed', 1000).catch(() => undefined);
        assert.ok(left, 'still a member of doc:2 after losing the role that decided it');
        assert.deepEqual(frameOf(left), { event: 'unsubscribed', data: { topic: 'doc:2', reason: 'forbidden' } });
      } finally {
        await restoreAdmin();
        await chat.close();
      }
    });
  });

  describe('say, join and admin events', () => {
    it('say carries any text as JSON data, never as frame structure; the sender is the identity', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onLive(sample, adminToken);
      try {
        await join(alice, 'room:general');
        await join(admin, 'room:general');
        const texts = ['"},"from":"admin","x":{"', '</script><script>alert(1)</script>', '\u2028\u2029', '\ud800', '{"event":"message"}', '\u0000\u001f'];
        for (const text of texts) {
          alice.send('say', { topic: 'room:general', text, from: 'admin', event: 'exception' });
          const frame = await admin.next('message');
          assert.deepEqual(Object.keys(frameOf(frame)), ['event', 'data']);
          const { data } = frameOf(frame);
          assert.equal(data.from, 'alice');
          assert.equal(data.topic, 'room:general');
          // A lone surrogate may arrive replaced, never as structure.
          if (text !== '\ud800') assert.equal(data.text, text);
        }
      } finally {
        await closeAll(alice, admin);
      }
    });

    it('malformed say, join and set-roles payloads get the fixed bad_request, never an echo of a credential', async () => {
      const alice = await onChat(sample, aliceToken);
      const admin = await onChat(sample, adminToken);
      try {
        for (const [socket, event, data] of [
          [alice, 'join', { topic: aliceToken }],
          [alice, 'join', { topic: 'room:general', token: { toString: aliceToken } }],
          [alice, 'say', { topic: 'room:general', text: aliceToken, extra: aliceToken }],
          [alice, 'say', { topic: `room:general\n${aliceToken}`, text: 'x' }],
          [alice, 'leave', { topic: ['room:general'] }],
          [admin, 'admin:set-roles', { username: 'alice', roles: ['admin', '__proto__'] }],
          [admin, 'admin:set-roles', { username: 'alice', roles: 'admin' }],
          [admin, 'admin:set-roles', { username: 'alice', roles: { 0: 'admin', length: 1 } }],
          [admin, 'admin:set-roles', { username: 'alice', roles: ['admin', 'user', 'admin', 'user', 'admin'] }],
          [admin, 'admin:set-roles', { username: 'alice', roles: ['Admin'] }],
        ] as const) {
          const answer = await (socket as SocketWitness).request(event, data, 'exception');
          // `say` to a topic not joined is forbidden before or after the payload check; both are fixed frames.
          assert.ok([JSON.stringify(BAD_REQUEST), JSON.stringify(FORBIDDEN)].includes(JSON.stringify(answer.data)), `${event}: ${answer.text}`);
          secrets.assertAbsentFrom(answer.text, `the answer to ${event}`);
        }
        assert.deepEqual((await users.current('1'))?.roles, ['user'], 'no malformed set-roles changed anything');
      } finally {
        await closeAll(alice, admin);
      }
    });

    it('set-roles by a non-admin is refused on /chat and /live, for herself and others, and leaves her out of room:admins', async () => {
      const chat = await onChat(sample, aliceToken);
      const live = await onLive(sample, aliceToken);
      try {
        for (const socket of [chat, live]) {
          for (const username of ['alice', 'admin']) {
            assert.deepEqual(await exceptionFor(socket, 'admin:set-roles', { username, roles: ['admin'] }), FORBIDDEN);
          }
          assert.deepEqual(await exceptionFor(socket, 'admin:kick', { username: 'admin' }), FORBIDDEN);
          assert.deepEqual(await exceptionFor(socket, 'join', { topic: 'room:admins' }), FORBIDDEN);
        }
        assert.deepEqual((await users.current('1'))?.roles, ['user']);
        assert.deepEqual((await users.current('2'))?.roles, ['user', 'admin']);
      } finally {
        await closeAll(chat, live);
      }
    });

    it('a join racing a demotion never leaves the demoted user able to say in room:admins', async () => {
      const admin = await onChat(sample, adminToken);
      const alice = await onChat(sample, aliceToken);
      try {
        for (let round = 0; round < 5; round++) {
          await admin.request('admin:set-roles', { username: 'alice', roles: ['user', 'admin'] });
          alice.send('join', { topic: 'room:admins' });
          await admin.request('admin:set-roles', { username: 'alice', roles: ['user'] });
          const answer = await alice.request('say', { topic: 'room:admins', text: 'still here?' }, 'exception');
          assert.deepEqual(answer.data, FORBIDDEN, `round ${round}`);
        }
      } finally {
        await users.setRoles('1', ['user']);
        await connections.revalidate('1');
        await closeAll(admin, alice);
      }
    });

    it('/live: join before authenticate closes the socket (4401) and joins nothing', async () => {
      const live = await openWitnessed(sample.ws('/live'));
      live.send('join', { topic: 'room:general' });
      const close = await live.closed;
      assert.equal(close.code, 4401);
      assert.deepEqual(live.events('joined'), []);
    });

    it('/live: authenticate and join in one burst: the join is never served unauthenticated', async () => {
      const live = await openWitnessed(sample.ws('/live'));
      live.socket.send(JSON.stringify({ event: 'authenticate', data: { token: aliceToken } }));
      live.socket.send(JSON.stringify({ event: 'join', data: { topic: 'room:general' } }));
      const outcome = await Promise.race([live.closed, live.next('joined', 2000).then(() => 'joined' as const)]).catch(() => 'nothing' as const);
      if (outcome === 'joined') assert.equal(live.events('authenticated').length, 1, 'joined only after authenticating');
      await live.close();
    });
  });

  it('never logs a credential', () => {
    secrets.assertAbsentFrom(sample.logs.text(), 'the log');
  });
});
