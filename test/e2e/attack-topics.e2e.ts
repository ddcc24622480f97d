import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Inject } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import jwt from 'jsonwebtoken';
import { createClient } from 'redis';
import type { WebSocket } from 'ws';
import {
  RedisTopicBus,
  TOPIC_TOKEN_TYPE,
  WsConnections,
  WsRevocations,
  WsTopics,
  type WsAuthOptions,
  type WsIdentity,
  type WsJwtClaims,
} from '../../lib/index.js';
import { closedWithin } from '../support/close-deadline.js';
import { appModule } from '../support/fixtures.js';
import { hmacSignedToken, pemKeyPair } from '../support/forged-tokens.js';
import { RedisServer } from '../support/redis-server.js';
import { eventually, openWitnessed, sleep, type SocketWitness, type WitnessedFrame } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { SESSION_TIMERS, TimerCensus } from '../support/timer-census.js';
import { handMadeToken, nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket } from '../support/ws-client.js';

/**
 * Attacks on WsTopics: tokens that try to pass for something else, names that try to reach an
 * object's prototype, joins that race what should stop them, and what a closed connection
 * leaves behind.
 */

const MAX_TOPICS = 5;

// A user store the tests edit: roles follow it, so a re-check can demote.
const roles = new Map<string, string[]>();
let gate: Promise<void> = Promise.resolve();
let gateCalls = 0;

const options: WsAuthOptions = {
  jwt: { secret: TEST_SECRET },
  validate: (claims: WsJwtClaims) => ({ name: claims.sub, roles: roles.get(claims.sub as string) ?? ['user'] }),
  rolesOf: (user: { roles: string[] }) => user.roles,
  expiryWarningMs: 1000,
  topics: {
    maxTopicsPerConnection: MAX_TOPICS,
    policies: [
      { pattern: 'open:*', authorize: () => true },
      { pattern: 'admins', authorize: (identity) => identity.roles.includes('admin') },
      { pattern: 'slow:*', authorize: async () => (await sleep(30), true) },
      {
        pattern: 'gate:*',
        authorize: async (identity: WsIdentity) => {
          gateCalls++;
          await gate;
          return identity.roles.includes('admin');
        },
      },
      // Prototype keys as patterns: a Map holds them, an object would not.
      { pattern: '__proto__', authorize: () => false },
      { pattern: 'constructor', authorize: () => true },
      { pattern: 'doc:*' },
    ],
  },
};

@WebSocketGateway({ path: '/topics' })
class AttackTopicsGateway {
  constructor(@Inject(WsTopics) private readonly topics: WsTopics) {}

  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic?: unknown; token?: unknown; data?: unknown }) {
    return { event: 'joined', data: await this.topics.join(client, body?.topic as string, { token: body?.token as string, data: body?.data }) };
  }

  @SubscribeMessage('leave')
  leave(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic: string }) {
    return { event: 'left', data: { topic: body.topic, left: this.topics.leave(client, body.topic) } };
  }

  @SubscribeMessage('mine')
  mine(@ConnectedSocket() client: WebSocket) {
    return { event: 'mine', data: this.topics.topicsOf(client) };
  }
}

function topicToken(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: TOPIC_TOKEN_TYPE }): string {
  return jwt.sign(claims, TEST_SECRET, { expiresIn: 300, header: header as unknown as jwt.JwtHeader });
}

/** Literal JSON, HS256 under the module secret: claims no signing library would write. */
function literalTopicToken(payload: string, header = `{"alg":"HS256","typ":"${TOPIC_TOKEN_TYPE}"}`): string {
  return hmacSignedToken(header, payload, TEST_SECRET);
}

/** The join's answer, `joined` or `exception`, whichever the server sends. */
async function joinAnswer(socket: SocketWitness, body: unknown): Promise<WitnessedFrame> {
  const quiet = (frame: Promise<WitnessedFrame>) => frame.catch(() => new Promise<never>(() => undefined));
  const answer = Promise.race([quiet(socket.next('joined')), quiet(socket.next('exception'))]);
  socket.send('join', body);
  return answer;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('attack: WsTopics', { timeout: 60_000 }, () => {
  let app: TestApp;
  let topics: WsTopics;
  let connections: WsConnections;
  const open: SocketWitness[] = [];

  async function connect(sub: string, userRoles: string[] = ['user']): Promise<SocketWitness> {
    roles.set(sub, userRoles);
    const socket = await openWitnessed(app.url('/topics'), bearer(signToken({ sub, username: sub })));
    open.push(socket);
    return socket;
  }

  /** Refused with `code`, still open, not in the topic, and the token neither echoed nor logged. */
  async function assertRefused(socket: SocketWitness, body: { topic: unknown; token?: unknown }, code = 'forbidden', what = '') {
    const answer = await socket.request('join', body, 'exception');
    assert.equal(answer.data.code, code, `${what}: ${JSON.stringify(answer.data)}`);
    const mine = (await socket.request('mine')).data as string[];
    assert.ok(!mine.includes(body.topic as string), `${what}: joined anyway`);
    assert.equal(socket.socket.readyState, socket.socket.OPEN, `${what}: the socket must stay open`);
    if (typeof body.token === 'string' && body.token.length > 0) {
      assert.ok(!socket.seen().includes(body.token), `${what}: the client got the token back`);
      assert.ok(!app.logs.text().includes(body.token), `${what}: the token reached the log`);
    }
  }

  before(async () => {
    app = await startTestApp(appModule([AttackTopicsGateway], options));
    topics = app.app.get(WsTopics);
    connections = app.app.get(WsConnections);
  });

  after(async () => {
    await Promise.all(open.map((socket) => socket.close()));
    await app.close();
  });

  describe('token confusion', () => {
    it('accepts the documented spellings of the topic type, and nothing else', async () => {
      const socket = await connect('typ-user');
      const claims = { sub: 'typ-user', topic: 'doc:typ' };
      for (const typ of [TOPIC_TOKEN_TYPE, 'TOPIC+JWT', 'application/topic+jwt', 'Application/Topic+JWT']) {
        assert.equal(
          (await socket.request('join', { topic: 'doc:typ', token: topicToken(claims, { alg: 'HS256', typ }) }, 'joined')).data.topic,
          'doc:typ',
          typ,
        );
        await socket.request('leave', { topic: 'doc:typ' }, 'left');
      }
      const refused: Record<string, string> = {
        'typ JWT (an access token)': topicToken(claims, { alg: 'HS256', typ: 'JWT' }),
        'typ at+jwt': topicToken(claims, { alg: 'HS256', typ: 'at+jwt' }),
        'no typ': literalTopicToken(JSON.stringify({ ...claims, exp: nowSeconds() + 300 }), '{"alg":"HS256"}'),
        'typ with a space': topicToken(claims, { alg: 'HS256', typ: 'topic+jwt ' }),
        'typ with a NUL': topicToken(claims, { alg: 'HS256', typ: 'topic+jwt\u0000' }),
        'typ as an array': literalTopicToken(JSON.stringify({ ...claims, exp: nowSeconds() + 300 }), '{"alg":"HS256","typ":["topic+jwt"]}'),
        'typ application/jwt': topicToken(claims, { alg: 'HS256', typ: 'application/jwt' }),
        'typ x-topic+jwt': topicToken(claims, { alg: 'HS256', typ: 'x-topic+jwt' }),
        'alg none': handMadeToken({ alg: 'none', typ: TOPIC_TOKEN_TYPE }, { ...claims, exp: nowSeconds() + 300 }),
        'alg HS512 (not pinned)': jwt.sign(claims, TEST_SECRET, { expiresIn: 300, algorithm: 'HS512', header: { alg: 'HS512', typ: TOPIC_TOKEN_TYPE } }),
        'an access token of the same subject': signToken({ sub: 'typ-user', topic: 'doc:typ' }),
      };
      for (const [what, token] of Object.entries(refused)) await assertRefused(socket, { topic: 'doc:typ', token }, 'forbidden', what);
    });

    it('refuses every spelling of the topic type as an access token at the upgrade (401)', async () => {
      for (const typ of [TOPIC_TOKEN_TYPE, 'TOPIC+JWT', 'application/topic+jwt', 'APPLICATION/TOPIC+JWT']) {
        const token = jwt.sign({ sub: 'upgrade-typ', username: 'x', roles: ['admin'], topic: '*' }, TEST_SECRET, {
          expiresIn: 300,
          header: { alg: 'HS256', typ } as jwt.JwtHeader,
        });
        const outcome = await openSocket(app.url('/topics'), bearer(token));
        if (outcome.kind === 'open') outcome.socket.terminate();
        assert.equal(outcome.kind === 'refused' && outcome.status, 401, `${typ}: ${JSON.stringify(outcome)}`);
        assert.ok(!(outcome.kind === 'refused' && outcome.body.includes(token)));
        assert.ok(!app.logs.text().includes(token));
      }
    });

    it('refuses a topic token as a refresh of an open socket', async () => {
      const socket = await connect('refresh-typ');
      const token = topicToken({ sub: 'refresh-typ', topic: '*', roles: ['admin'] });
      socket.send('authenticate', { token });
      const close = await closedWithin(socket);
      assert.equal(close.code, 4401);
      assert.ok(!socket.seen(close).includes(token) && !app.logs.text().includes(token));
    });

    it('refuses topic claims that are not one pattern: empty, inner *, **, number, array, object, control characters, too long', async () => {
      const socket = await connect('claim-user');
      const exp = nowSeconds() + 300;
      const claimsOf = (topic: string) => `{"sub":"claim-user","exp":${exp},"topic":${topic}}`;
      const cases: Record<string, string> = {
        empty: claimsOf('""'),
        'inner *': claimsOf('"doc:*:x"'),
        'double *': claimsOf('"**"'),
        number: claimsOf('1'),
        array: claimsOf('["doc:claim"]'),
        'array with *': claimsOf('["*"]'),
        object: claimsOf('{"pattern":"*"}'),
        null: claimsOf('null'),
        true: claimsOf('true'),
        'a newline': claimsOf('"doc:\\n*"'),
        'too long': claimsOf(JSON.stringify('doc:'.padEnd(202, 'x') + '*')),
        missing: `{"sub":"claim-user","exp":${exp}}`,
        'in the prototype only': `{"sub":"claim-user","exp":${exp},"__proto__":{"topic":"*"}}`,
      };
      for (const [what, payload] of Object.entries(cases)) {
        await assertRefused(socket, { topic: 'doc:claim', token: literalTopicToken(payload) }, 'forbidden', what);
      }
    });

    it('refuses a subject that differs in type, case, padding or is absent, and dates that are not dates', async () => {
      const socket = await connect('42');
      const exp = nowSeconds() + 300;
      const cases: Record<string, string> = {
        'sub as a number': `{"sub":42,"exp":${exp},"topic":"doc:sub"}`,
        'sub as an array': `{"sub":["42"],"exp":${exp},"topic":"doc:sub"}`,
        'sub with a space': `{"sub":"42 ","exp":${exp},"topic":"doc:sub"}`,
        'sub empty': `{"sub":"","exp":${exp},"topic":"doc:sub"}`,
        'sub in the prototype only': `{"__proto__":{"sub":"42"},"exp":${exp},"topic":"doc:sub"}`,
        'no exp': `{"sub":"42","topic":"doc:sub"}`,
        'exp 1e309': `{"sub":"42","exp":1e309,"topic":"doc:sub"}`,
        'exp as a string': `{"sub":"42","exp":"${exp}","topic":"doc:sub"}`,
        'exp in the past': `{"sub":"42","exp":${nowSeconds() - 5},"topic":"doc:sub"}`,
        'exp beyond any date': `{"sub":"42","exp":9e15,"topic":"doc:sub"}`,
        'nbf in the future': `{"sub":"42","exp":${exp},"nbf":${nowSeconds() + 120},"topic":"doc:sub"}`,
        'a payload that is an array': `[{"sub":"42","exp":${exp},"topic":"doc:sub"}]`,
      };
      for (const [what, payload] of Object.entries(cases)) {
        await assertRefused(socket, { topic: 'doc:sub', token: literalTopicToken(payload) }, 'forbidden', what);
      }
      // The control: the same token with the right claims (and an `iat`, which revocation needs) joins.
      const good = literalTopicToken(`{"sub":"42","iat":${nowSeconds()},"exp":${exp},"topic":"doc:sub"}`);
      assert.equal((await socket.request('join', { topic: 'doc:sub', token: good }, 'joined')).data.topic, 'doc:sub');
    });

    it('refuses a token that is not a string, and an empty one, as forbidden without a crash', async () => {
      const socket = await connect('token-types');
      for (const token of ['', 42, ['a.b.c'], { token: 'x' }, true, 'a'.repeat(100_000)]) {
        await assertRefused(socket, { topic: 'doc:types', token }, 'forbidden', JSON.stringify(token).slice(0, 40));
      }
    });

    it('refuses a token for a subject to a connection without one, even a token whose subject is ""', async () => {
      const socket = await openWitnessed(app.url('/topics'), bearer(jwt.sign({ username: 'nosub', roles: ['user'] }, TEST_SECRET, { expiresIn: 300 })));
      open.push(socket);
      await assertRefused(socket, { topic: 'doc:ns', token: topicToken({ sub: 'someone', topic: 'doc:ns' }) }, 'forbidden', 'another subject');
      await assertRefused(socket, { topic: 'doc:ns', token: literalTopicToken(`{"sub":"","exp":${nowSeconds() + 60},"topic":"*"}`) }, 'forbidden', 'empty sub');
    });
  });

  describe('names', () => {
    it('treats prototype keys as ordinary topics: decided by their own policy, none by Object.prototype', async () => {
      const socket = await connect('proto-user');
      // '__proto__' has a policy that refuses; 'hasOwnProperty' and 'toString' have none.
      for (const topic of ['__proto__', 'hasOwnProperty', 'toString', 'valueOf']) await assertRefused(socket, { topic }, 'forbidden', topic);
      assert.equal((await socket.request('join', { topic: 'constructor' }, 'joined')).data.topic, 'constructor');
      assert.equal((await socket.request('join', { topic: 'open:__proto__' }, 'joined')).data.topic, 'open:__proto__');
      assert.deepEqual((await socket.request('mine')).data.sort(), ['constructor', 'open:__proto__']);
      assert.equal(await topics.publish('__proto__', 'x', 1), 0);
      assert.equal(await topics.publish('constructor', 'hello', { a: 1 }), 1);
      assert.deepEqual((await socket.next('hello')).data, { a: 1 });
    });

    it('refuses names with C0, DEL or C1 characters and names past 200 UTF-16 units (bad_request)', async () => {
      const socket = await connect('names-user');
      for (const topic of [
        'open:\u007f',
        'open:\u0085',
        'open:\u009b[2J',
        'open:\r',
        'open:' + '\u{1F600}'.repeat(98),
        { toString: () => 'open:x' },
        ['open:x'],
        null,
      ]) {
        const answer = await socket.request('join', { topic }, 'exception');
        assert.equal(answer.data.code, 'bad_request', JSON.stringify(topic));
      }
      await assert.rejects(topics.publish('open:\u0000', 'e', 1), TypeError);
      assert.deepEqual((await socket.request('mine')).data, []);
    });
  });

  describe('races and limits', () => {
    it('counts 50 concurrent joins of one topic once, and lets no burst of others past the limit', async () => {
      const socket = await connect('burst-user');
      for (let i = 0; i < 50; i++) socket.send('join', { topic: 'slow:same' });
      await eventually(() => socket.events('joined').length === 50, 5000, 'fifty answers');
      assert.deepEqual(socket.events('exception'), []);
      for (let i = 0; i < 30; i++) socket.send('join', { topic: `slow:burst:${i}` });
      await eventually(() => socket.events('joined').length + socket.events('exception').length === 80, 5000, 'thirty answers');
      assert.equal(socket.events('joined').length - 50, MAX_TOPICS - 1);
      assert.ok(socket.events('exception').every((frame) => frame.data.code === 'too_many_requests'));
      assert.equal((await socket.request('mine')).data.length, MAX_TOPICS);
      await eventually(() => topics.size.pendingJoins === 0, 2000, 'no join pending');
    });

    it('never lands a join decided under roles that a re-check removed meanwhile', async () => {
      const socket = await connect('race-reval', ['admin']);
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const calls = gateCalls;
      socket.send('join', { topic: 'gate:reval' });
      await eventually(() => gateCalls > calls, 2000, 'authorize called');
      roles.set('race-reval', ['user']);
      assert.equal(await connections.revalidate('race-reval'), 1);
      release();
      assert.equal((await socket.next('exception')).data.code, 'forbidden');
      assert.deepEqual((await socket.request('mine')).data, []);
      gate = Promise.resolve();
    });

    it('lets a subject change on refresh close the socket rather than carry token-held topics over', async () => {
      const socket = await connect('subj-a');
      await socket.request('join', { topic: 'doc:subj', token: topicToken({ sub: 'subj-a', topic: 'doc:subj' }) }, 'joined');
      const [server] = topics.membersOf('doc:subj');
      roles.set('subj-b', ['admin']);
      const other = signToken({ sub: 'subj-b', username: 'subj-b' });
      socket.send('authenticate', { token: other });
      assert.equal((await closedWithin(socket)).code, 4403);
      await eventually(() => topics.membersOf('doc:subj').length === 0, 2000, 'the topic left');
      assert.deepEqual(topics.topicsOf(server), []);
      assert.ok(!socket.seen().includes(other) && !app.logs.text().includes(other));
    });

    it('sends unsubscribed without any token when a re-check demotes, and nothing to a client in no topic', async () => {
      const token = topicToken({ sub: 'unsub-user', topic: 'doc:unsub' });
      const socket = await connect('unsub-user', ['admin']);
      const idle = await connect('idle-user', ['admin']);
      await socket.request('join', { topic: 'admins' }, 'joined');
      await socket.request('join', { topic: 'doc:unsub', token }, 'joined');
      const errors = app.logs.lines.filter((line) => line.startsWith('error')).length;
      roles.set('unsub-user', ['user']);
      roles.set('idle-user', ['user']);
      await connections.revalidate('unsub-user');
      await connections.revalidate('idle-user');
      const frame = await socket.next('unsubscribed');
      assert.deepEqual(frame.data, { topic: 'admins', reason: 'forbidden' });
      assert.ok(!socket.seen().includes(token), 'no frame carries the topic token');
      assert.deepEqual((await socket.request('mine')).data, ['doc:unsub']);
      assert.deepEqual((await idle.request('mine')).data, []);
      assert.deepEqual(idle.events('unsubscribed'), []);
      assert.equal(app.logs.lines.filter((line) => line.startsWith('error')).length, errors, 'no error logged');
    });

    it('ends a topic token’s deadlines with the connection: no timer left, nothing sent after close', async () => {
      const census = new TimerCensus([SESSION_TIMERS]).start();
      const own = await startTestApp(
        appModule([AttackTopicsGateway], { jwt: { secret: TEST_SECRET }, expiryWarningMs: 500, topics: { policies: [{ pattern: 'doc:*' }] } }),
      );
      try {
        const ownTopics = own.app.get(WsTopics);
        const socket = await openWitnessed(own.url('/topics'), bearer(signToken({ sub: 'timers' })));
        for (const [i, seconds] of [5, 30, 200].entries()) {
          const token = jwt.sign({ sub: 'timers', topic: `doc:t${i}` }, TEST_SECRET, { expiresIn: seconds, header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } });
          await socket.request('join', { topic: `doc:t${i}`, token }, 'joined');
        }
        assert.ok((await census.settled(SESSION_TIMERS)) >= 1, 'the census sees the deadlines');
        // Closed by the server for an auth reason: the socket lingers in CLOSING until the peer answers.
        await own.app.get(WsConnections).disconnect('timers');
        await closedWithin(socket);
        await eventually(() => ownTopics.size.connections === 0, 2000, 'the memberships gone');
        assert.deepEqual(ownTopics.size, { connections: 0, topics: 0, pendingJoins: 0 });
        await eventually(async () => (await census.settled(SESSION_TIMERS)) === 0, 2000, 'no deadline timer left');
        assert.deepEqual(socket.events('unsubscribed'), []);
      } finally {
        census.stop();
        await own.close();
      }
    });

    it('finding 1: honours a revocation of the topic token’s jti', async () => {
      const socket = await connect('jti-user');
      const token = topicToken({ sub: 'jti-user', topic: 'doc:jti', jti: 'topic-jti-1', iat: nowSeconds() });
      await app.app.get(WsRevocations).revoke({ jti: 'topic-jti-1', expiresAt: Date.now() + 300_000 }, 'logged_out');
      const answer = await joinAnswer(socket, { topic: 'doc:jti', token });
      assert.equal(answer.event, 'exception', 'a revoked topic token still joined');
      assert.equal(answer.data.code, 'forbidden');
    });

    it('a topic held by a token whose jti is revoked afterwards is left at once (unsubscribed, forbidden); the socket stays', async () => {
      const socket = await connect('jti-held');
      const token = topicToken({ sub: 'jti-held', topic: 'doc:held', jti: 'topic-jti-2', iat: nowSeconds() });
      const other = topicToken({ sub: 'jti-held', topic: 'doc:other', jti: 'topic-jti-3', iat: nowSeconds() });
      assert.equal((await joinAnswer(socket, { topic: 'doc:held', token })).event, 'joined');
      assert.equal((await joinAnswer(socket, { topic: 'doc:other', token: other })).event, 'joined');
      await app.app.get(WsRevocations).revoke({ jti: 'topic-jti-2', expiresAt: Date.now() + 300_000 }, 'logged_out');
      assert.deepEqual((await socket.next('unsubscribed')).data, { topic: 'doc:held', reason: 'forbidden' });
      assert.deepEqual(app.app.get(WsTopics).topicsOf(app.app.get(WsTopics).membersOf('doc:other')[0]!), ['doc:other']);
      assert.equal(socket.socket.readyState, socket.socket.OPEN);
      assert.ok(!socket.seen().includes(token), 'the token is not echoed');
    });
  });
});

describe('attack: topic tokens under their own public key', { timeout: 30_000 }, () => {
  const keys = pemKeyPair('rsa');
  let app: TestApp;
  const sockets: SocketWitness[] = [];

  before(async () => {
    app = await startTestApp(
      appModule([AttackTopicsGateway], { jwt: { secret: TEST_SECRET }, topics: { policies: [{ pattern: 'doc:*' }], tokens: { publicKey: keys.publicKey } } }),
    );
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await app.close();
  });

  it('refuses HS256 keyed with the public key, the module secret, and alg none; admits RS256', async () => {
    const socket = await openWitnessed(app.url('/topics'), bearer(signToken({ sub: 'pk-user' })));
    sockets.push(socket);
    const payload = JSON.stringify({ sub: 'pk-user', topic: 'doc:pk', exp: nowSeconds() + 300 });
    const header = `{"alg":"HS256","typ":"${TOPIC_TOKEN_TYPE}"}`;
    const refused: Record<string, string> = {
      'HS256 with the public key as secret': hmacSignedToken(header, payload, keys.publicKey),
      'HS256 with the module secret': hmacSignedToken(header, payload, TEST_SECRET),
      'alg none': handMadeToken({ alg: 'none', typ: TOPIC_TOKEN_TYPE }, JSON.parse(payload)),
    };
    for (const [what, token] of Object.entries(refused)) {
      const answer = await socket.request('join', { topic: 'doc:pk', token }, 'exception');
      assert.equal(answer.data.code, 'forbidden', what);
      assert.ok(!socket.seen().includes(token) && !app.logs.text().includes(token), what);
    }
    const good = jwt.sign(JSON.parse(payload), keys.privateKey, { algorithm: 'RS256', header: { alg: 'RS256', typ: TOPIC_TOKEN_TYPE } });
    assert.equal((await socket.request('join', { topic: 'doc:pk', token: good }, 'joined')).data.topic, 'doc:pk');
  });
});

const binary = RedisServer.find();
const CHANNEL = 'attack-topics';

@WebSocketGateway({ path: '/rt' })
class RedisTopicsGateway {
  constructor(@Inject(WsTopics) private readonly topics: WsTopics) {}

  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic: string }) {
    return { event: 'joined', data: await this.topics.join(client, body.topic) };
  }

  @SubscribeMessage('ping')
  ping() {
    return { event: 'ping', data: null };
  }
}

describe('attack: a writer on the topic channel', { skip: binary ? false : 'redis-server not installed', timeout: 60_000 }, () => {
  let redis: RedisServer;
  let app: TestApp;
  const sockets: SocketWitness[] = [];

  before(async () => {
    redis = await RedisServer.start(binary!);
    app = await startTestApp(
      appModule([RedisTopicsGateway], {
        jwt: { secret: TEST_SECRET },
        topics: { policies: [{ pattern: '*', authorize: () => true }], bus: new RedisTopicBus({ url: redis.url, channel: CHANNEL }) },
      }),
    );
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await app?.close();
    await redis?.stop();
  });

  async function member(sub: string, topic: string): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url('/rt'), bearer(signToken({ sub })));
    sockets.push(socket);
    await socket.request('join', { topic }, 'joined');
    return socket;
  }

  it('drops what is malformed, reaches members only, and never delivers along the prototype', async () => {
    const [member1, protoMember, outsider] = await Promise.all([member('w-1', 'room:w'), member('w-2', '__proto__'), member('w-3', 'room:other')]);
    const writer = createClient({ url: redis.url });
    await writer.connect();
    try {
      const messages = [
        '{"origin":"x","topic":"room:w","event":"said","data":',
        JSON.stringify({ origin: 'x', topic: ['room:w'], event: 'said', data: 'array topic' }),
        JSON.stringify({ origin: 'x', topic: 'room:w', event: 7, data: 'numeric event' }),
        JSON.stringify({ origin: 'x', topic: 'room:w', event: '', data: 'empty event' }),
        JSON.stringify({ origin: 7, topic: 'room:w', event: 'said', data: 'numeric origin' }),
        JSON.stringify({ origin: 'x', topic: 'room:w'.padEnd(201, 'w'), event: 'said', data: 'long topic' }),
        JSON.stringify({ origin: 'x', topic: 'room:w\u0085', event: 'said', data: 'C1 topic' }),
        '{"origin":"x","__proto__":{"topic":"room:w","event":"said"},"data":"prototype only"}',
        JSON.stringify({ origin: 'x', topic: 'constructor', event: 'said', data: 'no member' }),
        JSON.stringify({ origin: 'x', topic: '__proto__', event: 'said', data: 'proto member' }),
        JSON.stringify({ origin: 'x', topic: 'room:w', event: 'said', data: { nested: '__proto__', big: 'y'.repeat(256 * 1024) } }),
        JSON.stringify({ origin: 'x', topic: 'room:w', event: 'said', data: 'last' }),
      ];
      for (const message of messages) await writer.publish(CHANNEL, message);
      await eventually(() => member1.events('said').some((frame) => frame.data === 'last'), 5000, 'the last message');
      await Promise.all([member1, protoMember, outsider].map((socket) => socket.request('ping')));
      assert.deepEqual(
        member1.events('said').map((frame) => (typeof frame.data === 'string' ? frame.data : 'big')),
        ['big', 'last'],
      );
      assert.deepEqual(
        protoMember.events('said').map((frame) => frame.data),
        ['proto member'],
      );
      assert.deepEqual(outsider.events('said'), []);
      assert.ok(!app.logs.text().includes('array topic'));
    } finally {
      await writer.quit();
    }
  });
});
