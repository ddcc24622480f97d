import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Inject } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import jwt from 'jsonwebtoken';
import type { WebSocket } from 'ws';
import { TOPIC_TOKEN_TYPE, WsRevocations, WsTopics, type WsAuthOptions, type WsIdentity, type WsTopicsOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { generateSigningKey, JwksServer, signWith } from '../support/jwks-server.js';
import { LogCapture } from '../support/log-capture.js';
import { eventually, openWitnessed, sleep, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket } from '../support/ws-client.js';

const WARNING_MS = 1000;
const MAX_TOPICS = 5;
const MAX_BUFFERED = 64 * 1024;

/** Holds the `gate:*` policy open until a test lets it through, to race joins against closes and refreshes. */
let gate: Promise<void> = Promise.resolve();
let gateCalls = 0;

const options: WsAuthOptions = {
  jwt: { secret: TEST_SECRET },
  expiryWarningMs: WARNING_MS,
  closeGraceMs: 3000,
  topics: {
    maxTopicsPerConnection: MAX_TOPICS,
    maxBufferedBytes: MAX_BUFFERED,
    policies: [
      { pattern: 'open:*', authorize: () => true },
      { pattern: 'open:closed', authorize: () => false },
      { pattern: 'admins', authorize: (identity) => identity.roles.includes('admin') },
      { pattern: 'async:*', authorize: async (_identity, _topic, data) => (await sleep(20), (data as { pass?: unknown })?.pass === 'yes') },
      {
        pattern: 'throws',
        authorize: () => {
          throw new TypeError('authorize-secret-detail');
        },
      },
      { pattern: 'truthy', authorize: () => 1 as unknown as boolean },
      {
        pattern: 'gate:*',
        authorize: async (identity: WsIdentity) => {
          gateCalls++;
          await gate;
          return identity.roles.includes('admin');
        },
      },
      // Token only: a policy without authorize.
      { pattern: 'doc:*' },
      { pattern: 'both:*', requireToken: true, authorize: (identity) => identity.roles.includes('editor') },
      {
        pattern: 'gated-both:*',
        requireToken: true,
        authorize: async () => {
          gateCalls++;
          await gate;
          return true;
        },
      },
    ],
  },
};

@WebSocketGateway({ path: '/topics' })
class TopicsGateway {
  constructor(@Inject(WsTopics) private readonly topics: WsTopics) {}

  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic?: string; token?: string; data?: unknown }) {
    const joined = await this.topics.join(client, body?.topic as string, { token: body?.token, data: body?.data });
    return { event: 'joined', data: joined };
  }

  @SubscribeMessage('leave')
  leave(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic: string }) {
    return { event: 'left', data: { topic: body.topic, left: this.topics.leave(client, body.topic) } };
  }

  @SubscribeMessage('say')
  async say(@MessageBody() body: { topic: string; text: string }) {
    const count = await this.topics.publish(body.topic, 'said', { topic: body.topic, text: body.text });
    return { event: 'sent', data: { count } };
  }

  @SubscribeMessage('mine')
  mine(@ConnectedSocket() client: WebSocket) {
    return { event: 'mine', data: this.topics.topicsOf(client) };
  }
}

/** A topic token as an issuer mints it: `typ: topic+jwt`, a subject, a topic, an expiry. */
function topicToken(sub: string, topic: string, expiresIn = 300, secret = TEST_SECRET): string {
  return jwt.sign({ sub, topic }, secret, { expiresIn, header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } });
}

function expOf(token: string): number {
  return (jwt.decode(token) as { exp: number }).exp * 1000;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('WsTopics', () => {
  let app: TestApp;
  let topics: WsTopics;
  const open: SocketWitness[] = [];

  async function connect(sub: string, claims: Record<string, unknown> = {}): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url('/topics'), bearer(signToken({ sub, username: sub, ...claims })));
    open.push(socket);
    return socket;
  }

  /** A join refused: the exception frame with its code, and the socket still open and answering. */
  async function assertRefused(socket: SocketWitness, data: unknown, code = 'forbidden', secret?: string) {
    const answer = await socket.request('join', data, 'exception');
    assert.deepEqual(answer.data, { status: 'error', message: code === 'forbidden' ? 'Forbidden' : answer.data.message, code });
    assert.equal(socket.events('joined').filter((frame) => frame.data.topic === (data as { topic: string }).topic).length, 0);
    const mine = await socket.request('mine');
    assert.ok(!mine.data.includes((data as { topic: string }).topic), 'a refused topic must not be joined');
    if (secret) {
      assert.ok(!socket.seen().includes(secret), 'the client must not get the token back');
      assert.ok(!app.logs.text().includes(secret), 'the log must not contain the token');
    }
  }

  before(async () => {
    app = await startTestApp(appModule([TopicsGateway], options));
    topics = app.app.get(WsTopics);
  });

  after(async () => {
    await Promise.all(open.map((socket) => socket.close()));
    await app.close();
  });

  describe('policies', () => {
    it('joins a topic its policy allows, with no expiry', async () => {
      const socket = await connect('p-allow');
      const joined = await socket.request('join', { topic: 'open:1' }, 'joined');
      assert.deepEqual(joined.data, { topic: 'open:1', expiresAt: null });
      assert.deepEqual((await socket.request('mine')).data, ['open:1']);
    });

    it('refuses when the most specific policy refuses, though a broader one allows', async () => {
      await assertRefused(await connect('p-specific'), { topic: 'open:closed' });
    });

    it('refuses a role the identity lacks, and allows it to one that has it', async () => {
      await assertRefused(await connect('p-user'), { topic: 'admins' });
      const admin = await connect('p-admin', { roles: ['user', 'admin'] });
      assert.deepEqual((await admin.request('join', { topic: 'admins' }, 'joined')).data, { topic: 'admins', expiresAt: null });
    });

    it('waits for an async authorize, and gives it the join data', async () => {
      const socket = await connect('p-async');
      assert.equal((await socket.request('join', { topic: 'async:1', data: { pass: 'yes' } }, 'joined')).data.topic, 'async:1');
      await assertRefused(socket, { topic: 'async:2', data: { pass: 'no' } });
    });

    it('refuses without a matching policy, and without authorize or a token (fail closed)', async () => {
      const socket = await connect('p-none');
      await assertRefused(socket, { topic: 'unlisted' });
      await assertRefused(socket, { topic: 'doc:1' });
    });

    it('refuses when authorize returns a truthy value that is not true', async () => {
      await assertRefused(await connect('p-truthy'), { topic: 'truthy' });
    });

    it('refuses when authorize throws, and logs the error name only, once', async () => {
      const before = app.logs.lines.length;
      await assertRefused(await connect('p-throws'), { topic: 'throws' });
      const lines = app.logs.lines.slice(before).filter((line) => line.includes('authorize'));
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.match(lines[0], /TypeError/);
      assert.ok(!app.logs.text().includes('authorize-secret-detail'), 'the error message must not be logged');
    });

    it('refuses a topic that is empty, too long, not a string or has control characters (bad_request)', async () => {
      const socket = await connect('p-names');
      for (const topic of ['', 'open:'.padEnd(201, 'x'), 'open:a\nb', 'open:\u0000', 42]) {
        const answer = await socket.request('join', { topic }, 'exception');
        assert.equal(answer.data.code, 'bad_request', JSON.stringify(topic));
      }
      assert.deepEqual((await socket.request('mine')).data, []);
    });

    it('refuses the join beyond maxTopicsPerConnection (too_many_requests)', async () => {
      const socket = await connect('p-limit');
      for (let i = 0; i < MAX_TOPICS; i++) await socket.request('join', { topic: `open:limit:${i}` }, 'joined');
      await assertRefused(socket, { topic: 'open:limit:extra' }, 'too_many_requests');
      // A re-join of a joined topic is not one more.
      assert.equal((await socket.request('join', { topic: 'open:limit:0' }, 'joined')).data.topic, 'open:limit:0');
      assert.equal((await socket.request('leave', { topic: 'open:limit:0' }, 'left')).data.left, true);
      assert.equal((await socket.request('join', { topic: 'open:limit:extra' }, 'joined')).data.topic, 'open:limit:extra');
    });

    it('counts concurrent joins of one topic once, and concurrent joins of others against the limit', async () => {
      const socket = await connect('p-concurrent');
      for (let i = 0; i < MAX_TOPICS - 1; i++) await socket.request('join', { topic: `open:c:${i}` }, 'joined');
      for (let i = 0; i < 3; i++) socket.send('join', { topic: 'async:same', data: { pass: 'yes' } });
      await eventually(() => socket.events('joined').filter((frame) => frame.data.topic === 'async:same').length === 3, 3000, 'three joins');
      assert.deepEqual(socket.events('exception'), []);
      assert.deepEqual(topics.topicsOf(topics.membersOf('async:same')[0]).length, MAX_TOPICS);
      await socket.request('leave', { topic: 'async:same' }, 'left');
      socket.send('join', { topic: 'async:a', data: { pass: 'yes' } });
      socket.send('join', { topic: 'async:b', data: { pass: 'yes' } });
      await eventually(() => socket.events('exception').length === 1, 3000, 'one refusal');
      assert.equal(socket.events('exception')[0].data.code, 'too_many_requests');
      await eventually(async () => (await socket.request('mine')).data.length === MAX_TOPICS, 3000, 'the limit reached, not passed');
    });

    it('a leave sent while a join of the same topic is still being decided cancels it: the join never lands', async () => {
      const socket = await connect('p-leave-pending');
      socket.send('join', { topic: 'async:cancelled', data: { pass: 'yes' } });
      // async authorize takes about 20 ms: the leave arrives while it runs.
      assert.equal((await socket.request('leave', { topic: 'async:cancelled' }, 'left')).data.left, false);
      const refused = await socket.next('exception');
      assert.equal(refused.data.code, 'forbidden');
      assert.deepEqual((await socket.request('mine')).data, []);
      assert.equal(topics.size.pendingJoins, 0);
      // Nothing sticks: the next join of that topic lands.
      assert.equal((await socket.request('join', { topic: 'async:cancelled', data: { pass: 'yes' } }, 'joined')).data.topic, 'async:cancelled');
    });

    it('refuses a socket the server no longer knows as authenticated', async () => {
      const socket = await connect('p-gone');
      await socket.request('join', { topic: 'open:gone' }, 'joined');
      const [server] = topics.membersOf('open:gone');
      server.terminate();
      await socket.closed;
      await assert.rejects(topics.join(server, 'open:again'), { message: 'Forbidden' });
      await eventually(() => topics.membersOf('open:gone').length === 0, 2000, 'the closed socket leaving');
    });
  });

  describe('topic tokens', () => {
    it('joins with a token for the topic, and tells when it expires', async () => {
      const socket = await connect('t-valid');
      const token = topicToken('t-valid', 'doc:1');
      const joined = await socket.request('join', { topic: 'doc:1', token }, 'joined');
      assert.deepEqual(joined.data, { topic: 'doc:1', expiresAt: expOf(token) });
      assert.ok(!app.logs.text().includes(token));
    });

    it('joins any topic under a pattern token', async () => {
      const socket = await connect('t-pattern');
      const token = topicToken('t-pattern', 'doc:team:*');
      assert.equal((await socket.request('join', { topic: 'doc:team:7', token }, 'joined')).data.topic, 'doc:team:7');
      await assertRefused(socket, { topic: 'doc:other', token }, 'forbidden', token);
    });

    it('refuses a token for another subject, another topic, expired or tampered with', async () => {
      const socket = await connect('t-bad');
      const valid = topicToken('t-bad', 'doc:bad');
      const [header, , signature] = valid.split('.');
      const forged = Buffer.from(JSON.stringify({ ...(jwt.decode(valid) as object), topic: 'doc:*' })).toString('base64url');
      const cases: Record<string, string> = {
        'another subject': topicToken('someone-else', 'doc:bad'),
        'another topic': topicToken('t-bad', 'doc:elsewhere'),
        expired: topicToken('t-bad', 'doc:bad', -10),
        tampered: `${header}.${forged}.${signature}`,
        'another key': topicToken('t-bad', 'doc:bad', 300, 'another-secret-that-is-long-enough-0123456789'),
        'no exp': jwt.sign({ sub: 't-bad', topic: 'doc:bad' }, TEST_SECRET, { header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } }),
        garbage: 'not-a-jwt',
      };
      for (const [what, token] of Object.entries(cases)) {
        await assertRefused(socket, { topic: 'doc:bad', token }, 'forbidden', token).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
      }
    });

    it('refuses an access token presented as a topic token (no typ)', async () => {
      const socket = await connect('t-access');
      const access = signToken({ sub: 't-access', topic: 'doc:access' });
      await assertRefused(socket, { topic: 'doc:access', token: access }, 'forbidden', access);
    });

    it('refuses a topic token to a connection without a subject', async () => {
      const socket = await openWitnessed(app.url('/topics'), bearer(jwt.sign({ username: 'nobody', roles: ['user'] }, TEST_SECRET, { expiresIn: 300 })));
      open.push(socket);
      const token = jwt.sign({ topic: 'doc:nosub' }, TEST_SECRET, { expiresIn: 300, header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE } });
      await assertRefused(socket, { topic: 'doc:nosub', token }, 'forbidden', token);
    });

    it('refuses a topic token used as an access token at the upgrade (401)', async () => {
      const token = jwt.sign({ sub: 't-upgrade', username: 'x', roles: ['user'], topic: 'doc:1' }, TEST_SECRET, {
        expiresIn: 300,
        header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE },
      });
      const outcome = await openSocket(app.url('/topics'), bearer(token));
      if (outcome.kind === 'open') outcome.socket.terminate();
      assert.equal(outcome.kind, 'refused');
      assert.equal(outcome.kind === 'refused' && outcome.status, 401);
      assert.ok(!(outcome.kind === 'refused' && outcome.body.includes(token)));
      assert.ok(!app.logs.text().includes(token));
    });
  });

  describe('publish', () => {
    it('reaches the members, each once, and no one else', async () => {
      const [a, b, outsider] = await Promise.all([connect('pub-a'), connect('pub-b'), connect('pub-c')]);
      await a.request('join', { topic: 'open:pub' }, 'joined');
      await b.request('join', { topic: 'open:pub' }, 'joined');
      await outsider.request('join', { topic: 'open:elsewhere' }, 'joined');
      const sent = await a.request('say', { topic: 'open:pub', text: 'hello' }, 'sent');
      assert.deepEqual(sent.data, { count: 2 });
      assert.deepEqual((await b.next('said')).data, { topic: 'open:pub', text: 'hello' });
      // One round trip each: anything published before it has arrived by then.
      await Promise.all([a, b, outsider].map((socket) => socket.request('mine')));
      assert.equal(a.events('said').length, 1);
      assert.equal(b.events('said').length, 1);
      assert.deepEqual(outsider.events('said'), []);
    });

    it('stops reaching a member once it left', async () => {
      const [a, b] = await Promise.all([connect('pub-leave-a'), connect('pub-leave-b')]);
      await a.request('join', { topic: 'open:leave' }, 'joined');
      await b.request('join', { topic: 'open:leave' }, 'joined');
      assert.equal((await b.request('leave', { topic: 'open:leave' }, 'left')).data.left, true);
      assert.equal((await b.request('leave', { topic: 'open:leave' }, 'left')).data.left, false);
      assert.deepEqual((await a.request('say', { topic: 'open:leave', text: 'x' }, 'sent')).data, { count: 1 });
      await b.request('mine');
      assert.deepEqual(b.events('said'), []);
    });

    it('refuses a topic or an event no one could join', async () => {
      await assert.rejects(topics.publish('', 'e', 1), TypeError);
      await assert.rejects(topics.publish('open:x', '', 1), TypeError);
    });

    it('closes a reader that falls behind with 1008 and sends it nothing more; the others go on', async () => {
      const [slow, fast] = await Promise.all([connect('slow-reader'), connect('fast-reader')]);
      await slow.request('join', { topic: 'open:slow' }, 'joined');
      await fast.request('join', { topic: 'open:slow' }, 'joined');
      const [slowServer] = topics.membersOf('open:slow').filter((member) => topics.topicsOf(member).length === 1 && member !== undefined);
      // The client stops reading: the server's unsent bytes for it can only grow.
      slow.socket.pause();
      const chunk = 'x'.repeat(16 * 1024);
      let published = 0;
      while (topics.membersOf('open:slow').length === 2 && published < 5000) {
        await topics.publish('open:slow', 'blob', chunk);
        published++;
        if (published % 50 === 0) await sleep(1);
      }
      assert.deepEqual(topics.membersOf('open:slow').length, 1, `still a member after ${published} publications`);
      assert.ok(slowServer.bufferedAmount <= MAX_BUFFERED + chunk.length + 1024, `held ${slowServer.bufferedAmount} bytes`);
      const count = await topics.publish('open:slow', 'blob', 'after');
      assert.equal(count, 1);
      slow.socket.resume();
      const close = await slow.closed;
      assert.equal(close.code, 1008);
      assert.equal(close.reason, 'Too slow');
      assert.ok(!slow.frames.some((frame) => frame.data === 'after'), 'nothing after the close');
      await eventually(() => fast.events('blob').some((frame) => frame.data === 'after'), 5000, 'the fast reader getting everything');
    });
  });

  describe('topic expiry', () => {
    it('warns once, then leaves the topic at expiry; the socket stays open', async () => {
      const socket = await connect('exp-1');
      const token = topicToken('exp-1', 'doc:exp', 2);
      const joined = await socket.request('join', { topic: 'doc:exp', token }, 'joined');
      const warning = await socket.next('topic_expiring', 5000);
      assert.deepEqual(warning.data, { topic: 'doc:exp', expiresAt: joined.data.expiresAt });
      const gone = await socket.next('unsubscribed', 5000);
      assert.deepEqual(gone.data, { topic: 'doc:exp', reason: 'expired' });
      assert.equal(socket.events('topic_expiring').length, 1);
      assert.deepEqual((await socket.request('mine')).data, []);
      assert.equal(socket.socket.readyState, 1);
    });

    it('extends the expiry on a re-join with a fresh token', async () => {
      const socket = await connect('exp-2');
      const short = topicToken('exp-2', 'doc:ext', 2);
      const long = topicToken('exp-2', 'doc:ext', 120);
      await socket.request('join', { topic: 'doc:ext', token: short }, 'joined');
      assert.equal((await socket.request('join', { topic: 'doc:ext', token: long }, 'joined')).data.expiresAt, expOf(long));
      // An older token does not shorten it again.
      assert.equal((await socket.request('join', { topic: 'doc:ext', token: short }, 'joined')).data.expiresAt, expOf(long));
      await sleep(expOf(short) - Date.now() + 300);
      assert.deepEqual((await socket.request('mine')).data, ['doc:ext']);
      assert.deepEqual(socket.events('unsubscribed'), []);
    });

    it('keeps a token-held topic on a re-join without a token, with the later expiry only when a policy allows', async () => {
      const socket = await connect('exp-3');
      const docToken = topicToken('exp-3', 'doc:keep', 120);
      const openToken = topicToken('exp-3', 'open:keep', 120);
      await socket.request('join', { topic: 'doc:keep', token: docToken }, 'joined');
      await socket.request('join', { topic: 'open:keep', token: openToken }, 'joined');
      assert.deepEqual((await socket.request('join', { topic: 'doc:keep' }, 'joined')).data, { topic: 'doc:keep', expiresAt: expOf(docToken) });
      assert.deepEqual((await socket.request('join', { topic: 'open:keep' }, 'joined')).data, { topic: 'open:keep', expiresAt: null });
    });
  });

  describe('identity changes', () => {
    it('leaves the topics the refreshed identity may no longer join, and keeps the others', async () => {
      const sub = 'id-demoted';
      const socket = await connect(sub, { roles: ['user', 'admin'] });
      await socket.request('join', { topic: 'admins' }, 'joined');
      await socket.request('join', { topic: 'open:stay' }, 'joined');
      await socket.request('join', { topic: 'doc:stay', token: topicToken(sub, 'doc:stay') }, 'joined');
      const demoted = signToken({ sub, username: sub, roles: ['user'] });
      await socket.authenticate(demoted);
      const gone = await socket.next('unsubscribed');
      assert.deepEqual(gone.data, { topic: 'admins', reason: 'forbidden' });
      assert.deepEqual((await socket.request('mine')).data.sort(), ['doc:stay', 'open:stay']);
      assert.equal(socket.events('unsubscribed').length, 1);
    });

    it('requireToken: needs the token and the policy, and leaves once the role behind it is gone', async () => {
      const sub = 'id-both';
      const socket = await connect(sub, { roles: ['user', 'editor'] });
      await assertRefused(socket, { topic: 'both:1' });
      const token = topicToken(sub, 'both:1');
      assert.equal((await socket.request('join', { topic: 'both:1', token }, 'joined')).data.topic, 'both:1');
      await socket.authenticate(signToken({ sub, username: sub, roles: ['user'] }));
      assert.deepEqual((await socket.next('unsubscribed')).data, { topic: 'both:1', reason: 'forbidden' });
      // The token is still valid, but what it was granted for no longer holds.
      assert.equal((await socket.request('join', { topic: 'both:1', token }, 'exception')).data.code, 'forbidden');
      assert.deepEqual((await socket.request('mine')).data, []);
      assert.ok(!socket.seen().includes(token) && !app.logs.text().includes(token), 'the token is echoed nowhere');
    });

    it('never lands a join whose topic token was revoked while its policy was awaited', async () => {
      const sub = 'id-revoked-mid-join';
      const socket = await connect(sub);
      const token = jwt.sign({ sub, topic: 'gated-both:1', jti: 'mid-join-jti' }, TEST_SECRET, {
        expiresIn: 300,
        header: { alg: 'HS256', typ: TOPIC_TOKEN_TYPE },
      });
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const calls = gateCalls;
      socket.send('join', { topic: 'gated-both:1', token });
      await eventually(() => gateCalls > calls, 2000, 'authorize called');
      await app.app.get(WsRevocations).revoke({ jti: 'mid-join-jti', expiresAt: Date.now() + 300_000 });
      release();
      assert.equal((await socket.next('exception')).data.code, 'forbidden');
      assert.deepEqual((await socket.request('mine')).data, []);
    });

    it('never lands a join on an identity demoted while it was decided', async () => {
      const sub = 'id-race';
      const socket = await connect(sub, { roles: ['user', 'admin'] });
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const calls = gateCalls;
      socket.send('join', { topic: 'gate:1' });
      await eventually(() => gateCalls > calls, 2000, 'authorize called');
      await socket.authenticate(signToken({ sub, username: sub, roles: ['user'] }));
      release();
      const answer = await socket.next('exception');
      assert.equal(answer.data.code, 'forbidden');
      assert.deepEqual((await socket.request('mine')).data, []);
    });

    it('never lands a join on a socket closed while it was decided', async () => {
      const socket = await connect('id-closed', { roles: ['user', 'admin'] });
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const calls = gateCalls;
      socket.send('join', { topic: 'gate:closed' });
      await eventually(() => gateCalls > calls, 2000, 'authorize called');
      await socket.close();
      release();
      await sleep(50);
      assert.deepEqual(topics.membersOf('gate:closed'), []);
      gate = Promise.resolve();
    });
  });

  describe('memory', () => {
    it('holds nothing for closed connections', async () => {
      await Promise.all(open.splice(0).map((socket) => socket.close()));
      await eventually(() => topics.size.connections === 0, 3000, 'every membership gone');
      assert.deepEqual(topics.size, { connections: 0, topics: 0, pendingJoins: 0 });
    });
  });
});

describe('WsTopics options at startup', () => {
  async function startupError(extra: Partial<WsAuthOptions>): Promise<Error> {
    try {
      const app = await NestFactory.create(appModule([], { jwt: { secret: TEST_SECRET }, ...extra }), { logger: new LogCapture(), abortOnError: false });
      await app.close();
    } catch (error) {
      return error as Error;
    }
    assert.fail(`started with ${JSON.stringify(extra)}`);
  }

  const topicsCases: Array<[string, WsTopicsOptions, RegExp]> = [
    ['a * inside a pattern', { policies: [{ pattern: 'doc:*:edit' }] }, /pattern/],
    ['an empty pattern', { policies: [{ pattern: '' }] }, /pattern/],
    ['a pattern twice', { policies: [{ pattern: 'doc:*' }, { pattern: 'doc:*' }] }, /twice/],
    ['no topics allowed', { maxTopicsPerConnection: 0 }, /maxTopicsPerConnection/],
    ['a fractional limit', { maxTopicsPerConnection: 1.5 }, /maxTopicsPerConnection/],
    ['no buffer at all', { maxBufferedBytes: -1 }, /maxBufferedBytes/],
    ['an infinite buffer', { maxBufferedBytes: Infinity }, /maxBufferedBytes/],
  ];
  for (const [what, topics, message] of topicsCases) {
    it(`stops on ${what}`, async () => {
      assert.match((await startupError({ topics })).message, message);
    });
  }

  for (const value of [-1, NaN, Infinity, '1000' as unknown as number]) {
    it(`stops on revalidateIntervalMs ${String(value)}`, async () => {
      assert.match((await startupError({ revalidateIntervalMs: value })).message, /revalidateIntervalMs/);
    });
  }
});

describe('WsTopics with topic tokens from a JWKS', () => {
  const jwks = new JwksServer();
  const key = generateSigningKey('RS256');
  const stranger = generateSigningKey('RS256');
  let app: TestApp;
  const sockets: SocketWitness[] = [];

  before(async () => {
    jwks.keys = [key];
    await jwks.start();
    app = await startTestApp(
      appModule([TopicsGateway], {
        jwt: { secret: TEST_SECRET },
        topics: { policies: [{ pattern: 'doc:*' }], tokens: { jwksUri: jwks.url, issuer: 'https://idp.test' } },
      }),
    );
  });

  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await app?.close();
    await jwks.stop();
  });

  async function connect(): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url('/topics'), bearer(signToken({ sub: 'jwks-user' })));
    sockets.push(socket);
    return socket;
  }

  it('joins with a token the key set signs, and refuses one without the type, from another key or issuer, or under the module secret', async () => {
    const claims = { sub: 'jwks-user', topic: 'doc:*', iss: 'https://idp.test' };
    const good = await signWith(key, claims, { typ: TOPIC_TOKEN_TYPE });
    const socket = await connect();
    assert.equal((await socket.request('join', { topic: 'doc:9', token: good }, 'joined')).data.topic, 'doc:9');
    const refused: Record<string, string> = {
      'no typ': await signWith(key, claims),
      'another key': await signWith(stranger, claims, { typ: TOPIC_TOKEN_TYPE }),
      'another issuer': await signWith(key, { ...claims, iss: 'https://elsewhere.test' }, { typ: TOPIC_TOKEN_TYPE }),
      'module secret': topicToken('jwks-user', 'doc:*'),
    };
    for (const [what, token] of Object.entries(refused)) {
      const answer = await socket.request('join', { topic: 'doc:1', token }, 'exception');
      assert.equal(answer.data.code, 'forbidden', what);
      assert.ok(!socket.seen().includes(token) && !app.logs.text().includes(token), `${what}: the token must not be echoed or logged`);
    }
  });
});
