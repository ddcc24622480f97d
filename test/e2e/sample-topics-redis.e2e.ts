import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UsersService } from '../../sample/users.service.js';
import { RedisServer } from '../support/redis-server.js';
import { startSample, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed } from '../support/socket-witness.js';
import { openSocket } from '../support/ws-client.js';
import { bearer, onChat, exceptionFor, join } from '../support/sample-topics-client.js';
import { frameOf } from '../support/exception-frames.js';

const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'forbidden' };

// Nest's Logger is process-wide: either sample may log into the capture of the one created last.
const logsOf = (...samples: Array<RunningSample | undefined>) => samples.map((sample) => sample?.logs.text() ?? '').join('\n');

const redisBinary = RedisServer.find();

describe('sample topics across two instances (REDIS_URL)', { skip: redisBinary ? false : 'redis-server not installed', timeout: 30_000 }, () => {
  let redis: RedisServer;
  let a: RunningSample;
  let b: RunningSample;
  const tokens: string[] = [];
  before(async () => {
    redis = await RedisServer.start(redisBinary!);
    a = await startSample({ redisUrl: redis.url });
    b = await startSample({ redisUrl: redis.url });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  async function login(sample: RunningSample, username: string): Promise<string> {
    const token = await sample.login(username);
    tokens.push(token);
    return token;
  }

  it('say on A reaches the members on B (and on A), once each', async () => {
    const adminOnA = await onChat(a, await login(a, 'admin'));
    const aliceOnB = await onChat(b, await login(b, 'alice'));
    const outsiderOnB = await onChat(b, await login(b, 'alice'));
    await join(adminOnA, 'room:general');
    await join(aliceOnB, 'room:general');
    adminOnA.send('say', { topic: 'room:general', text: 'from A' });
    const expected = { event: 'message', data: { topic: 'room:general', from: 'admin', text: 'from A' } };
    assert.deepEqual(frameOf(await aliceOnB.next('message')), expected);
    assert.deepEqual(frameOf(await adminOnA.next('message')), expected);
    aliceOnB.send('say', { topic: 'room:general', text: 'from B' });
    assert.equal((await adminOnA.next('message')).data.text, 'from B');
    assert.equal((await aliceOnB.next('message')).data.text, 'from B');
    // One more round trip each: a duplicate or a stray frame would have arrived before its answer.
    await Promise.all([adminOnA.request('whoami'), aliceOnB.request('whoami'), outsiderOnB.request('whoami')]);
    assert.equal(aliceOnB.events('message').length, 2);
    assert.equal(adminOnA.events('message').length, 2);
    assert.deepEqual(outsiderOnB.events('message'), []);
    await Promise.all([adminOnA.close(), aliceOnB.close(), outsiderOnB.close()]);
  });

  it('set-roles on A promotes, then demotes, alice connected to B: in place, with unsubscribed forbidden', async () => {
    const adminOnA = await openWitnessed(a.ws('/admin'), { headers: bearer(await login(a, 'admin')) });
    const aliceToken = await login(b, 'alice');
    const aliceOnB = await onChat(b, aliceToken);
    assert.deepEqual(await exceptionFor(aliceOnB, 'join', { topic: 'room:admins' }), FORBIDDEN);

    const promoted = frameOf(await adminOnA.request('admin:set-roles', { username: 'alice', roles: ['user', 'admin'] }));
    assert.deepEqual(promoted, { event: 'admin:set-roles', data: { username: 'alice', roles: ['user', 'admin'] } });
    // The re-check travels through Redis: B sees the new roles once it has run there.
    await eventually(async () => (await aliceOnB.request('whoami')).data.roles.includes('admin'), 3000, 'the promotion on B');
    assert.deepEqual((await aliceOnB.request('whoami')).data, { username: 'alice', roles: ['user', 'admin'] });
    assert.deepEqual(await join(aliceOnB, 'room:admins'), { event: 'joined', data: { topic: 'room:admins', expiresAt: null } });
    const onAdminOfB = await openSocket(b.ws('/admin'), { headers: bearer(aliceToken) });
    assert.equal(onAdminOfB.kind, 'open', 'B reads the roles A wrote');
    if (onAdminOfB.kind === 'open') onAdminOfB.socket.close();

    const demoted = frameOf(await adminOnA.request('admin:set-roles', { username: 'alice', roles: ['user'] }));
    assert.deepEqual(demoted, { event: 'admin:set-roles', data: { username: 'alice', roles: ['user'] } });
    assert.deepEqual(frameOf(await aliceOnB.next('unsubscribed')), { event: 'unsubscribed', data: { topic: 'room:admins', reason: 'forbidden' } });
    assert.deepEqual(await exceptionFor(aliceOnB, 'admin:stats'), FORBIDDEN);
    assert.deepEqual((await aliceOnB.request('whoami')).data, { username: 'alice', roles: ['user'] });
    const refused = await openSocket(b.ws('/admin'), { headers: bearer(aliceToken) });
    assert.equal(refused.kind === 'refused' && refused.status, 403);
    assert.equal(aliceOnB.socket.readyState, aliceOnB.socket.OPEN);
    await Promise.all([adminOnA.close(), aliceOnB.close()]);
  });

  // Last: it stops Redis.
  it('while Redis is down, sockets still open and no instance hands back a role taken away', async () => {
    // Written on A (which now knows it); B has never read admin's roles.
    await a.app.get(UsersService).setRoles('2', ['user']);
    // A promotion A made itself is known there, and stays known through the outage.
    await a.app.get(UsersService).setRoles('1', ['user', 'admin']);
    // Logged in first: the sample keeps login sessions in Redis too.
    const adminToken = await login(a, 'admin');
    const aliceToken = await login(a, 'alice');
    await redis.stop();
    const alice = await onChat(a, aliceToken);
    assert.deepEqual((await alice.request('whoami')).data, { username: 'alice', roles: ['user', 'admin'] });
    await alice.close();
    for (const sample of [a, b]) {
      const admin = await onChat(sample, adminToken);
      assert.deepEqual((await admin.request('whoami')).data, { username: 'admin', roles: ['user'] });
      assert.deepEqual(await exceptionFor(admin, 'admin:stats'), FORBIDDEN);
      const panel = await openSocket(sample.ws('/admin'), { headers: bearer(adminToken) });
      assert.equal(panel.kind === 'refused' && panel.status, 403);
      await admin.close();
    }
  });

  it('never logs a credential', () => {
    const logs = logsOf(a, b);
    for (const token of tokens) assert.ok(!logs.includes(token), 'a token appeared in the log');
  });
});
