import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { RedisConnectionBus, WsConnections, type WsJwtClaims } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { closedWithin } from '../support/close-deadline.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { RedisServer } from '../support/redis-server.js';
import { eventually, openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

const binary = RedisServer.find();
const CHANNEL = 'ws-auth:disconnect';
// Pub/sub on a local Redis takes milliseconds; this is only how long a test waits for it.
const PROPAGATION_MS = 2000;

const Chat = makeRecordingGateway('RevalRedisChat', { path: '/chat' });

interface StoredUser {
  name: string;
  roles: string[];
}

describe('revalidate() across instances on one Redis', { skip: binary ? false : 'redis-server not installed', timeout: 30_000 }, () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  let listener: ReturnType<typeof createClient>;
  const wire: string[] = [];
  const users = new Map<string, StoredUser>();
  const calls: Array<{ instance: string; subject: string }> = [];
  const sockets: SocketWitness[] = [];
  const tokens: string[] = [];

  function start(instance: string): Promise<TestApp> {
    return startTestApp(
      appModule([Chat], {
        jwt: { secret: TEST_SECRET },
        validate: (claims: WsJwtClaims) => {
          calls.push({ instance, subject: claims.sub as string });
          const user = users.get(claims.sub as string);
          return user ? { ...user } : null;
        },
        rolesOf: (user: StoredUser) => user.roles,
        connectionBus: new RedisConnectionBus({ url: redis.url }),
      }),
    );
  }

  async function connect(instance: TestApp, subject: string): Promise<SocketWitness> {
    users.set(subject, { name: subject, roles: ['admin'] });
    const token = signToken({ sub: subject, username: subject });
    tokens.push(token);
    const socket = await openWitnessed(instance.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    sockets.push(socket);
    return socket;
  }

  const callsOf = (instance: string, subject: string) => calls.filter((call) => call.instance === instance && call.subject === subject).length;

  before(async () => {
    redis = await RedisServer.start(binary!);
    listener = createClient({ url: redis.url });
    await listener.connect();
    await listener.subscribe(CHANNEL, (message) => wire.push(message));
    a = await start('a');
    b = await start('b');
  });
  after(async () => {
    for (const socket of sockets) socket.socket.terminate();
    await listener?.quit().catch(() => undefined);
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('re-checks the subject’s connection on the other instance: new roles in place, no reconnect', async () => {
    const socket = await connect(b, 'redis-demoted');
    assert.equal((await socket.request('admin')).data, 'ok');
    users.set('redis-demoted', { name: 'redis-demoted', roles: ['user'] });
    assert.equal(await a.app.get(WsConnections).revalidate('redis-demoted'), 0, 'nothing of this subject is open on A');
    await eventually(async () => (await socket.request('whoami')).data.roles[0] === 'user', PROPAGATION_MS, 'the new roles on B');
    const refused = socket.next('exception');
    socket.send('admin');
    assert.equal((await refused).data.code, 'forbidden');
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
  });

  it('closes a deleted user on the other instance with 4401', async () => {
    const socket = await connect(b, 'redis-deleted');
    users.delete('redis-deleted');
    await a.app.get(WsConnections).revalidate('redis-deleted');
    assert.equal((await closedWithin(socket, PROPAGATION_MS + 1000)).code, 4401);
  });

  it('puts a message on the channel that an older instance drops, and that never disconnects', async () => {
    const socket = await connect(b, 'redis-wire');
    const published = wire.length;
    await a.app.get(WsConnections).revalidate('redis-wire');
    await eventually(() => wire.length > published, PROPAGATION_MS, 'the message on the channel');
    const message = wire[published];
    const parsed = JSON.parse(message) as Record<string, unknown>;
    // An older instance drops any message without a string `subject` (its parseCommand).
    assert.equal(parsed.subject, undefined);
    assert.equal(parsed.revalidate, 'redis-wire');
    // The exact message again, published by hand: B re-checks, and the client stays.
    const before = callsOf('b', 'redis-wire');
    await listener
      .duplicate()
      .connect()
      .then(async (publisher) => {
        await publisher.publish(CHANNEL, message);
        await publisher.quit();
      });
    await eventually(() => callsOf('b', 'redis-wire') > before, PROPAGATION_MS, 'the re-check on B');
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
    assert.equal((await socket.request('admin')).data, 'ok');
  });

  it('does not re-check twice on the instance that asked, when Redis hands its message back', async () => {
    const socket = await connect(a, 'redis-own');
    const marker = await connect(a, 'redis-marker');
    const connections = a.app.get(WsConnections);
    const before = callsOf('a', 'redis-own');
    await connections.revalidate('redis-own');
    assert.equal(callsOf('a', 'redis-own'), before + 1);
    // Redis delivers one channel in order: once B's later disconnect has reached A's
    // subscriber (the marker is open on A only), so has A's own re-check.
    await b.app.get(WsConnections).disconnect('redis-marker');
    await closedWithin(marker, PROPAGATION_MS);
    assert.equal(callsOf('a', 'redis-own'), before + 1);
    assert.equal(socket.socket.readyState, socket.socket.OPEN);
  });

  it('logs no credential on either instance', () => {
    for (const token of tokens) {
      for (const instance of [a, b]) assert.ok(!instance.logs.text().includes(token), 'the log must not contain a token');
      for (const socket of sockets) assert.ok(!socket.seen().includes(token), 'no client gets a token back');
    }
  });
});
