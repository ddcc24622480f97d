import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { startSample, SAMPLE_TEST_SECRET, type RunningSample } from '../support/sample-app.js';
import { closed, nextEvent, openOrFail, openSocket, request } from '../support/ws-client.js';

describe('sample app contract', () => {
  let sample: RunningSample;
  let aliceToken: string;
  let adminToken: string;
  before(async () => {
    sample = await startSample();
    aliceToken = await sample.login('alice');
    adminToken = await sample.login('admin');
  });
  after(() => sample.close());

  const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

  describe('POST /auth/login', () => {
    it('returns an access token and sets an HttpOnly SameSite=Lax cookie', async () => {
      const response = await fetch(sample.http('/auth/login'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: 'alice' }),
      });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { access_token: string };
      assert.deepEqual(Object.keys(body), ['access_token']);
      const cookie = response.headers.get('set-cookie') ?? '';
      assert.ok(cookie.startsWith(`access_token=${body.access_token};`), cookie);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Lax/);
      assert.match(cookie, /Path=\//);
    });

    it('signs sub, username, roles and exp', () => {
      const claims = jwt.verify(adminToken, SAMPLE_TEST_SECRET) as jwt.JwtPayload;
      assert.equal(claims.sub, '2');
      assert.equal(claims.username, 'admin');
      assert.deepEqual(claims.roles, ['user', 'admin']);
      assert.equal(typeof claims.exp, 'number');
      assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 900);
    });

    for (const body of [{ username: 'alice', password: 'wrong' }, { username: 'mallory', password: 'x' }, {}, { username: ['alice'], password: 'alice' }]) {
      it(`answers 401 for ${JSON.stringify(body)}`, async () => {
        const response = await fetch(sample.http('/auth/login'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(response.status, 401);
        assert.equal(response.headers.get('set-cookie'), null);
      });
    }
  });

  describe('/chat', () => {
    it('accepts the Authorization header, the bearer subprotocol and the cookie', async () => {
      const viaHeader = await openOrFail(sample.ws('/chat'), bearer(aliceToken));
      const viaProtocol = await openSocket(sample.ws('/chat'), { protocols: ['chat', `bearer.${aliceToken}`], headers: { Origin: sample.origin } });
      const viaCookie = await openOrFail(sample.ws('/chat'), { headers: { Cookie: `access_token=${aliceToken}`, Origin: sample.origin } });
      assert.equal(viaProtocol.kind, 'open');
      if (viaProtocol.kind !== 'open') return;
      assert.equal(viaProtocol.protocol, 'chat');
      for (const socket of [viaHeader, viaProtocol.socket, viaCookie]) {
        assert.deepEqual((await request(socket, 'whoami')).data, { username: 'alice', roles: ['user'] });
        socket.close();
      }
    });

    it('refuses a cookie ridden from another origin with 403', async () => {
      const outcome = await openSocket(sample.ws('/chat'), { headers: { Cookie: `access_token=${aliceToken}`, Origin: 'http://127.0.0.1:1' } });
      assert.equal(outcome.kind, 'refused');
      if (outcome.kind === 'refused') {
        assert.equal(outcome.status, 403);
        assert.ok(!outcome.body.includes(aliceToken));
      }
    });

    it('refuses a missing credential with 401', async () => {
      const outcome = await openSocket(sample.ws('/chat'));
      assert.equal(outcome.kind, 'refused');
      if (outcome.kind === 'refused') assert.equal(outcome.status, 401);
    });

    it('refuses a correctly signed token for an unknown user', async () => {
      const ghost = jwt.sign({ sub: '999', username: 'ghost', roles: ['admin'] }, SAMPLE_TEST_SECRET, { expiresIn: 60 });
      const outcome = await openSocket(sample.ws('/chat'), bearer(ghost));
      assert.equal(outcome.kind, 'refused');
      if (outcome.kind === 'refused') assert.equal(outcome.status, 401);
      assert.ok(!sample.logs.text().includes(ghost));
    });

    it('broadcasts chat with the sender taken from the identity, not the payload', async () => {
      const alice = await openOrFail(sample.ws('/chat'), bearer(aliceToken));
      const admin = await openOrFail(sample.ws('/chat'), bearer(adminToken));
      const seenByAdmin = nextEvent(admin, 'chat');
      const seenByAlice = nextEvent(alice, 'chat');
      alice.send(JSON.stringify({ event: 'chat', data: { text: 'hello', from: 'admin' } }));
      const expected = { event: 'chat', data: { from: 'alice', text: 'hello' } };
      assert.deepEqual(await seenByAdmin, expected);
      assert.deepEqual(await seenByAlice, expected);
      alice.close();
      admin.close();
      await Promise.all([closed(alice), closed(admin)]);
    });

    it('answers admin:stats for admins with the number of open authenticated sockets', async () => {
      const admin = await openOrFail(sample.ws('/chat'), bearer(adminToken));
      const alice = await openOrFail(sample.ws('/chat'), bearer(aliceToken));
      assert.deepEqual(await request(admin, 'admin:stats'), { event: 'admin:stats', data: { connections: 2 } });
      const exception = nextEvent(alice, 'exception');
      alice.send(JSON.stringify({ event: 'admin:stats' }));
      assert.deepEqual((await exception).data, { status: 'error', message: 'Forbidden', code: 'forbidden' });
      assert.deepEqual((await request(alice, 'whoami')).data.username, 'alice');
      alice.close();
      admin.close();
    });

    it('never logs a token', () => {
      const log = sample.logs.text();
      for (const token of [aliceToken, adminToken]) assert.ok(!log.includes(token));
    });
  });
});
