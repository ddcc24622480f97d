import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Inject } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { createClient } from 'redis';
import type { WebSocket } from 'ws';
import { RedisTopicBus, WsTopics, type WsAuthOptions } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

const binary = RedisServer.find();
const CHANNEL = 'test-topics';
// Pub/sub on a local Redis takes milliseconds; this is only how long a test waits for it.
const PROPAGATION_MS = 3000;

@WebSocketGateway({ path: '/topics' })
class TopicsGateway {
  constructor(@Inject(WsTopics) private readonly topics: WsTopics) {}

  @SubscribeMessage('join')
  async join(@ConnectedSocket() client: WebSocket, @MessageBody() body: { topic: string }) {
    return { event: 'joined', data: await this.topics.join(client, body.topic) };
  }

  @SubscribeMessage('say')
  async say(@MessageBody() body: { topic: string; text: string }) {
    const count = await this.topics.publish(body.topic, 'said', { text: body.text });
    return { event: 'sent', data: { count } };
  }

  @SubscribeMessage('ping')
  ping() {
    return { event: 'ping', data: null };
  }
}

function optionsFor(url: string): WsAuthOptions {
  return {
    jwt: { secret: TEST_SECRET },
    topics: { policies: [{ pattern: 'room:*', authorize: () => true }], bus: new RedisTopicBus({ url, channel: CHANNEL }) },
  };
}

describe('WsTopics across instances through Redis', { skip: binary ? false : 'redis-server not installed', timeout: 60_000 }, () => {
  let redis: RedisServer;
  let first: TestApp;
  let second: TestApp;
  const sockets: SocketWitness[] = [];

  async function member(app: TestApp, sub: string, topic: string): Promise<SocketWitness> {
    const socket = await openWitnessed(app.url('/topics'), { headers: { authorization: `Bearer ${signToken({ sub })}` } });
    sockets.push(socket);
    await socket.request('join', { topic }, 'joined');
    return socket;
  }

  before(async () => {
    redis = await RedisServer.start(binary!);
    first = await startTestApp(appModule([TopicsGateway], optionsFor(redis.url)));
    second = await startTestApp(appModule([TopicsGateway], optionsFor(redis.url)));
  });

  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await first?.close();
    await second?.close();
    await redis?.stop();
  });

  it("reaches the members on the other instance, not its non-members, and the publisher's members once", async () => {
    const [a1, a2, b1, b2, bOutsider] = await Promise.all([
      member(first, 'a1', 'room:1'),
      member(first, 'a2', 'room:1'),
      member(second, 'b1', 'room:1'),
      member(second, 'b2', 'room:1'),
      member(second, 'b3', 'room:2'),
    ]);
    const sent = await a1.request('say', { topic: 'room:1', text: 'from A' }, 'sent');
    assert.deepEqual(sent.data, { count: 2 }, 'the count is of this instance only');
    for (const socket of [b1, b2]) assert.deepEqual((await socket.next('said', PROPAGATION_MS)).data, { text: 'from A' });
    // Published on B once B had A's message: Redis hands A's subscriber A's own message (if it
    // delivered it again) before B's.
    await b1.request('say', { topic: 'room:1', text: 'from B' }, 'sent');
    for (const socket of [a1, a2]) await socket.next('said', PROPAGATION_MS).then((frame) => assert.deepEqual(frame.data, { text: 'from A' }));
    for (const socket of [a1, a2]) assert.deepEqual((await socket.next('said', PROPAGATION_MS)).data, { text: 'from B' });
    await Promise.all([a1, a2, b1, b2, bOutsider].map((socket) => socket.request('ping')));
    for (const socket of [a1, a2, b1, b2]) {
      assert.deepEqual(
        socket.events('said').map((frame) => frame.data.text),
        ['from A', 'from B'],
      );
    }
    assert.deepEqual(bOutsider.events('said'), []);
  });

  it('drops malformed messages on the channel and goes on delivering', async () => {
    const [a, b] = await Promise.all([member(first, 'm-a', 'room:m'), member(second, 'm-b', 'room:m')]);
    const intruder = createClient({ url: redis.url });
    await intruder.connect();
    try {
      for (const message of [
        'not json',
        '[]',
        'null',
        JSON.stringify({ topic: 'room:m', event: 'said', data: 1 }),
        JSON.stringify({ origin: 'x', topic: 'room:m\n', event: 'said' }),
      ]) {
        await intruder.publish(CHANNEL, message);
      }
      await a.request('say', { topic: 'room:m', text: 'after' }, 'sent');
      assert.deepEqual((await b.next('said', PROPAGATION_MS)).data, { text: 'after' });
      await b.request('ping');
      assert.deepEqual(
        b.events('said').map((frame) => frame.data),
        [{ text: 'after' }],
      );
      assert.ok(!first.logs.text().includes('not json') && !second.logs.text().includes('not json'));
    } finally {
      await intruder.quit();
    }
  });

  // Last: it stops Redis.
  it('delivers here, then rejects, when Redis is down', async () => {
    const [a, alsoA] = await Promise.all([member(first, 'down-a', 'room:down'), member(first, 'down-b', 'room:down')]);
    await redis.stop();
    await assert.rejects(first.app.get(WsTopics).publish('room:down', 'said', { text: 'local' }), /not published/);
    for (const socket of [a, alsoA]) assert.deepEqual((await socket.next('said')).data, { text: 'local' });
    assert.ok(!first.logs.text().includes(redis.url), 'the Redis URL is not logged');
  });
});
