import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { WsTicketService, WsTicketStore, type WsIdentity } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { startSample, SAMPLE_TEST_SECRET, type RunningSample } from '../support/sample-app.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { openOrFail, openSocket, request, type Outcome } from '../support/ws-client.js';
import { TEST_SECRET } from '../support/tokens.js';

async function fetchTicket(sample: RunningSample, accessToken: string) {
  const response = await fetch(sample.http('/auth/ws-ticket'), {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: (await response.json()) as { ticket: string; expires_in: number } };
}

function refusedWith(outcome: Outcome, status: number) {
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  if (outcome.kind === 'refused') assert.equal(outcome.status, status);
}

describe('single-use tickets through the sample', () => {
  let sample: RunningSample;
  let accessToken: string;
  before(async () => {
    sample = await startSample();
    accessToken = await sample.login('alice');
  });
  after(() => sample.close());

  it('issues an opaque ticket and opens /chat with ?ticket= exactly once', async () => {
    const { status, body } = await fetchTicket(sample, accessToken);
    assert.equal(status, 200);
    assert.match(body.ticket, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(body.expires_in, 30);
    const socket = await openOrFail(sample.ws(`/chat?ticket=${body.ticket}`), { headers: { Origin: sample.origin } });
    assert.deepEqual((await request(socket, 'whoami')).data, { username: 'alice', roles: ['user'] });
    socket.close();
    refusedWith(await openSocket(sample.ws(`/chat?ticket=${body.ticket}`)), 401);
    assert.ok(!sample.logs.text().includes(body.ticket), 'a ticket must never be logged');
  });

  it('refuses to issue without a bearer token or with an invalid one', async () => {
    for (const authorization of [undefined, 'Bearer', 'Bearer nope', `Basic ${accessToken}`, `Bearer ${accessToken}x`]) {
      const response = await fetch(sample.http('/auth/ws-ticket'), {
        method: 'POST',
        headers: authorization ? { Authorization: authorization } : {},
      });
      assert.equal(response.status, 401, String(authorization));
      assert.ok(!(await response.text()).includes(accessToken));
    }
  });

  it('lets exactly one of 40 concurrent handshakes redeem a ticket', async () => {
    const { body } = await fetchTicket(sample, accessToken);
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => openSocket(sample.ws(`/chat?ticket=${body.ticket}`))));
    const opened = outcomes.filter((outcome) => outcome.kind === 'open');
    assert.equal(opened.length, 1);
    for (const outcome of outcomes) {
      if (outcome.kind === 'open') outcome.socket.close();
      else refusedWith(outcome, 401);
    }
  });

  it('refuses forged, truncated, empty and oversized tickets with 401', async () => {
    const { body } = await fetchTicket(sample, accessToken);
    const forged = body.ticket.slice(0, -1) + (body.ticket.endsWith('A') ? 'B' : 'A');
    for (const ticket of [forged, body.ticket.slice(0, 20), '', 'x'.repeat(5000), `${body.ticket}.x`, encodeURIComponent('a b')]) {
      const outcome = await openSocket(sample.ws(`/chat?ticket=${ticket}`));
      refusedWith(outcome, 401);
      assert.ok(!JSON.stringify(outcome).includes(body.ticket));
    }
    // The forged and truncated attempts did not consume the real one.
    const socket = await openOrFail(sample.ws(`/chat?ticket=${body.ticket}`));
    socket.close();
    assert.ok(!sample.logs.text().includes(body.ticket));
  });

  it('refuses a valid ticket from a foreign Origin with 403 without redeeming it', async () => {
    const { body } = await fetchTicket(sample, accessToken);
    const outcome = await openSocket(sample.ws(`/chat?ticket=${body.ticket}`), { headers: { Origin: 'https://evil.example' } });
    refusedWith(outcome, 403);
    assert.ok(!JSON.stringify(outcome).includes(body.ticket));
    const socket = await openOrFail(sample.ws(`/chat?ticket=${body.ticket}`), { headers: { Origin: sample.origin } });
    socket.close();
  });

  it('never issues a ticket that outlives its access token', async () => {
    const shortLived = jwt.sign({ sub: '1', username: 'alice', roles: ['user'] }, SAMPLE_TEST_SECRET, { expiresIn: 5 });
    const { status, body } = await fetchTicket(sample, shortLived);
    assert.equal(status, 200);
    assert.ok(body.expires_in <= 5, `expires_in ${body.expires_in}`);
  });
});

describe('tickets in a plain app', () => {
  let app: TestApp;
  const stored: string[] = [];
  const identity: WsIdentity = {
    user: { username: 'tess' },
    subject: '7',
    roles: ['user'],
    claims: { sub: '7' },
    source: 'header',
    expiresAt: Date.now() + 60_000,
  };

  before(async () => {
    class RecordingStore extends WsTicketStore {
      private readonly entries = new Map<string, { value: string; expiresAt: number }>();
      async put(key: string, value: string, ttlMs: number) {
        stored.push(key, value);
        this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
      }
      async take(key: string) {
        const entry = this.entries.get(key);
        this.entries.delete(key);
        return entry && entry.expiresAt > Date.now() ? entry.value : undefined;
      }
    }
    app = await startTestApp(
      appModule([makeGateway('Tickets', 0, { path: '/t' })], {
        jwt: { secret: TEST_SECRET },
        tickets: { ttlSeconds: 1, store: new RecordingStore() },
      }),
    );
  });
  after(() => app.close());

  it('keeps only a hash of the ticket in the store', async () => {
    const { ticket } = await app.app.get(WsTicketService).issue(identity);
    assert.ok(stored.length > 0);
    for (const entry of stored) assert.ok(!entry.includes(ticket));
  });

  it('carries the identity as it was at issue time, marked as a ticket', async () => {
    const { ticket } = await app.app.get(WsTicketService).issue(identity);
    const socket = await openOrFail(app.url(`/t?ticket=${ticket}`));
    const reply = await request(socket, 'whoami');
    assert.deepEqual(reply.data.user, { username: 'tess' });
    assert.deepEqual(reply.data.roles, ['user']);
    assert.equal(reply.data.source, 'ticket');
    socket.close();
  });

  it('refuses an expired ticket with 401', async () => {
    const { ticket, expiresIn } = await app.app.get(WsTicketService).issue(identity);
    assert.equal(expiresIn, 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    refusedWith(await openSocket(app.url(`/t?ticket=${ticket}`)), 401);
  });

  it('refuses to issue for an identity that has already expired', async () => {
    await assert.rejects(app.app.get(WsTicketService).issue({ ...identity, expiresAt: Date.now() - 1 }), (error: any) => error.getStatus() === 401);
  });
});
