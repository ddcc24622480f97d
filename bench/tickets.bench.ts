import { MemoryTicketStore, RedisTicketStore, type WsIdentity, type WsTicketStore } from '../lib/index.js';
import { TicketBook } from '../lib/tickets/ticket-book.js';
import { RevocationList } from '../lib/revocations/revocation-list.js';
import { RedisServer } from '../test/support/redis-server.js';
import { fixed, median, whole } from './stats.js';

/**
 * Issue + redeem pairs per second through TicketBook, against the store's own put + take
 * in the same run: the ratio is what ticket handling (random bytes, hashing, JSON) adds.
 */
const identity: WsIdentity = {
  user: { id: '1', username: 'bench', roles: ['user'] },
  subject: '1',
  roles: ['user'],
  claims: { sub: '1', username: 'bench', roles: ['user'] },
  expiresAt: Date.now() + 3_600_000,
  source: 'header',
};

async function rate(seconds: number, pair: () => Promise<unknown>, parallel = 32): Promise<number> {
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline) {
        await pair();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function measure(store: WsTicketStore, rounds: number, seconds: number) {
  // 32 pairs in flight for one subject: a per-subject cap above that, so none is dropped.
  const book = new TicketBook(store, 30_000, 64, new RevocationList());
  let n = 0;
  const tickets: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < rounds; round++) {
    tickets.push(await rate(seconds, async () => book.redeem((await book.issueForClaims(identity)).ticket)));
    raw.push(
      await rate(seconds, async () => {
        const key = `raw-${n++}`;
        await store.put(key, '{"user":{}}', 30_000);
        await store.take(key);
      }),
    );
  }
  return { tickets: median(tickets), raw: median(raw) };
}

process.on('message', async (message: { type: string; rounds: number; seconds: number }) => {
  if (message.type === 'stop') process.exit(0);
  const lines: string[] = [];
  const results: Record<string, unknown> = {};
  const memory = await measure(new MemoryTicketStore(100_000), message.rounds, message.seconds);
  results.memory = memory;
  lines.push(`- in memory: ${whole(memory.tickets)} pairs/s (store put+take alone: ${whole(memory.raw)}/s, ratio ${fixed(memory.tickets / memory.raw)})`);
  const binary = RedisServer.find();
  if (binary) {
    const redis = await RedisServer.start(binary);
    const store = new RedisTicketStore({ url: redis.url });
    const onRedis = await measure(store, message.rounds, message.seconds);
    await store.close();
    await redis.stop();
    results.redis = onRedis;
    lines.push(
      `- on Redis: ${whole(onRedis.tickets)} pairs/s (SET PX NX + GETDEL alone: ${whole(onRedis.raw)}/s, ratio ${fixed(onRedis.tickets / onRedis.raw)})`,
    );
  } else {
    lines.push('- on Redis: skipped (redis-server not installed)');
  }
  process.send!({ type: 'result', lines, results });
});
process.send!({ type: 'ready' });
