import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisServer } from '../support/redis-server.js';
import { startSample, type RunningSample } from '../support/sample-app.js';
import { openOrFail, openSocket, request } from '../support/ws-client.js';

const binary = RedisServer.find();

async function ticketFrom(sample: RunningSample, accessToken: string) {
  const response = await fetch(sample.http('/auth/ws-ticket'), { method: 'POST', headers: { Authorization: `Bearer ${accessToken}` } });
  const body = (await response.json()) as { ticket: string; expires_in: number };
  return { status: response.status, ticket: body.ticket };
}

describe('tickets shared by two instances through Redis', { skip: binary ? false : 'redis-server not installed' }, () => {
  let redis: RedisServer;
  let a: RunningSample;
  let b: RunningSample;
  let accessToken: string;
  const issued: string[] = [];

  before(async () => {
    redis = await RedisServer.start(binary!);
    a = await startSample({ redisUrl: redis.url });
    b = await startSample({ redisUrl: redis.url });
    accessToken = await a.login('admin');
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('opens a socket on one instance with a ticket issued by the other, once', async () => {
    const { status, ticket } = await ticketFrom(a, accessToken);
    assert.equal(status, 200);
    issued.push(ticket);
    const socket = await openOrFail(b.ws(`/chat?ticket=${ticket}`));
    assert.equal((await request(socket, 'whoami')).data.username, 'admin');
    socket.close();
    for (const instance of [a, b]) {
      const replay = await openSocket(instance.ws(`/chat?ticket=${ticket}`));
      assert.equal(replay.kind === 'refused' && replay.status, 401);
    }
  });

  it('lets exactly one of 40 handshakes spread over both instances win a race', async () => {
    const { ticket } = await ticketFrom(b, accessToken);
    issued.push(ticket);
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => openSocket((i % 2 ? a : b).ws(`/chat?ticket=${ticket}`))));
    assert.equal(outcomes.filter((outcome) => outcome.kind === 'open').length, 1);
    for (const outcome of outcomes) {
      if (outcome.kind === 'open') outcome.socket.close();
      else assert.equal(outcome.kind === 'refused' && outcome.status, 401);
    }
  });

  it('refuses with 503 while Redis is down, never accepts, and recovers when it returns', async () => {
    const { ticket } = await ticketFrom(a, accessToken);
    issued.push(ticket);
    await redis.stop();

    const redeem = await openSocket(b.ws(`/chat?ticket=${ticket}`));
    assert.equal(redeem.kind === 'refused' && redeem.status, 503);
    assert.equal((await ticketFrom(a, accessToken)).status, 503);
    assert.match(b.logs.text(), /Ticket store unavailable \(Redis\)/);

    await redis.resume();
    let recovered: Awaited<ReturnType<typeof ticketFrom>> | undefined;
    for (let attempt = 0; attempt < 50 && recovered?.status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      recovered = await ticketFrom(a, accessToken);
    }
    assert.equal(recovered?.status, 200, 'the instance recovers once Redis is back');
    issued.push(recovered!.ticket);
    let socket;
    for (let attempt = 0; attempt < 50 && !socket; attempt++) {
      // b reconnects on its own schedule; a ticket survives failed attempts that never reached Redis.
      const outcome = await openSocket(b.ws(`/chat?ticket=${recovered!.ticket}`));
      if (outcome.kind === 'open') socket = outcome.socket;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(socket, 'the other instance recovers too');
    socket.close();
  });

  it('never logs a ticket', () => {
    const logs = a.logs.text() + b.logs.text();
    for (const ticket of issued) assert.ok(!logs.includes(ticket));
  });
});
