import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { RedisTicketStore, WsTicketService, type WsIdentity } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { RedisServer } from '../support/redis-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { TEST_SECRET } from '../support/tokens.js';
import { openOrFail, request } from '../support/ws-client.js';

const binary = RedisServer.find();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store key as TicketBook makes one: the hash of a random ticket. */
function ticketKey(): string {
  return createHash('sha256').update(randomBytes(32)).digest('base64url');
}

function identityOf(subject: string): WsIdentity {
  return {
    user: { username: subject },
    subject,
    roles: ['user'],
    claims: { sub: subject },
    expiresAt: Date.now() + 300_000,
    source: 'custom',
  };
}

describe('per-subject ticket cap of RedisTicketStore, on a real Redis', { skip: binary ? false : 'redis-server not installed' }, () => {
  const PREFIX = 'quota-test:';
  let redis: RedisServer;
  let store: RedisTicketStore;
  let inspector: ReturnType<typeof createClient>;

  before(async () => {
    redis = await RedisServer.start(binary!);
    store = new RedisTicketStore({ url: redis.url, keyPrefix: PREFIX });
    inspector = createClient({ url: redis.url });
    await inspector.connect();
  });
  after(async () => {
    await store?.close();
    inspector?.destroy();
    await redis?.stop();
  });

  it("keeps a subject's newest 10 of 12, each redeemable once, and leaves another subject alone", async () => {
    const bob = Array.from({ length: 3 }, ticketKey);
    for (const key of bob) await store.put(key, `bob:${key}`, 60_000, { subject: 'bob', max: 10 });
    const alice = Array.from({ length: 12 }, ticketKey);
    for (const key of alice) await store.put(key, `alice:${key}`, 60_000, { subject: 'alice', max: 10 });

    for (const key of alice.slice(0, 2)) assert.equal(await store.take(key), undefined, 'the oldest two were dropped');
    for (const key of alice.slice(2)) assert.equal(await store.take(key), `alice:${key}`);
    for (const key of alice) assert.equal(await store.take(key), undefined, 'once');
    for (const key of bob) assert.equal(await store.take(key), `bob:${key}`);
  });

  it('counts only unredeemed tickets', async () => {
    const keys = Array.from({ length: 3 }, ticketKey);
    for (const key of keys) await store.put(key, 'v', 60_000, { subject: 'carol', max: 3 });
    assert.equal(await store.take(keys[1]!), 'v');
    const next = ticketKey();
    await store.put(next, 'v', 60_000, { subject: 'carol', max: 3 });
    for (const key of [keys[0]!, keys[2]!, next]) assert.equal(await store.take(key), 'v');
  });

  it('caps atomically: of 50 concurrent puts for one subject, exactly 10 stay', async () => {
    const keys = Array.from({ length: 50 }, ticketKey);
    await Promise.all(keys.map((key) => store.put(key, 'v', 60_000, { subject: 'dave', max: 10 })));
    const taken = await Promise.all(keys.map((key) => store.take(key)));
    assert.equal(taken.filter((value) => value === 'v').length, 10);
  });

  it('names the subject by hash and keeps only ticket hashes, and everything expires on its own', async () => {
    // A prefix of its own: the earlier tests' keys live for a minute.
    const prefix = 'quota-expiry:';
    const expiring = new RedisTicketStore({ url: redis.url, keyPrefix: prefix });
    const keys = Array.from({ length: 3 }, ticketKey);
    for (const key of keys) await expiring.put(key, 'v', 300, { subject: 'erin@example.com', max: 10 });
    await expiring.close();
    const names = await inspector.keys(`${prefix}*`);
    assert.equal(names.length, 4);
    const [index] = names.filter((name) => name.startsWith(`${prefix}subject:`));
    assert.ok(index && !index.includes('erin'), 'the subject is hashed in the key name');
    assert.deepEqual((await inspector.zRange(index, 0, -1)).sort(), [...keys].sort(), 'the index holds the store keys (hashes) only');
    assert.ok((await inspector.pTTL(index)) > 0, 'the index has a TTL');

    await sleep(450);
    assert.deepEqual(await inspector.keys(`${prefix}*`), []);
  });
});

describe('one user minting tickets in bulk, end to end with the default store', () => {
  let app: TestApp;
  let tickets: WsTicketService;

  before(async () => {
    app = await startTestApp(appModule([makeGateway('QuotaChat', 0, { path: '/quota' })], { jwt: { secret: TEST_SECRET }, tickets: { maxEntries: 50 } }));
    tickets = app.app.get(WsTicketService);
  });
  after(() => app?.close());

  it('cannot lock other users out: 200 tickets for one, then another still gets a ticket and a socket', async () => {
    const flooder = identityOf('flooder');
    const issued: string[] = [];
    for (let i = 0; i < 200; i++) issued.push((await tickets.issue(flooder)).ticket);

    const { ticket } = await tickets.issue(identityOf('bystander'));
    const socket = await openOrFail(app.url(`/quota?ticket=${ticket}`));
    assert.equal((await request(socket, 'whoami')).data.user.username, 'bystander');
    socket.close();

    // The flooder's newest ticket still works: the cap drops the oldest, never the new one.
    const newest = await openOrFail(app.url(`/quota?ticket=${issued.at(-1)}`));
    assert.equal((await request(newest, 'whoami')).data.user.username, 'flooder');
    newest.close();

    const logs = app.logs.text();
    for (const value of [...issued, ticket]) assert.ok(!logs.includes(value), 'a ticket must never be logged');
  });
});
