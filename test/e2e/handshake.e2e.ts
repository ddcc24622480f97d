import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appModule, connectionLog, makeGateway } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { closed, nextEvent, openSocket, request } from '../support/ws-client.js';
import { signToken } from '../support/tokens.js';

function assertNoLeak(app: TestApp, outcome: unknown, secret: string) {
  assert.ok(!JSON.stringify(outcome).includes(secret), 'the client must not see its credential');
  assert.ok(!app.logs.text().includes(secret), 'the log must not contain the credential');
}

describe('handshake authentication', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(
      appModule([makeGateway('Chat', 0, { path: '/chat' })], {
        jwt: { secret: 'test-secret-that-is-long-enough-for-hs256-0123456789' },
        credentials: ['header', 'subprotocol', 'cookie'],
      }),
    );
  });
  after(() => app.close());

  it('accepts a bearer token in the Authorization header and carries the identity into handlers', async () => {
    const token = signToken({ username: 'alice' });
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    const reply = await request(outcome.socket, 'whoami');
    assert.equal(reply.data.username, 'alice');
    assert.deepEqual(reply.data.roles, ['user']);
    assert.equal(reply.data.source, 'header');
    outcome.socket.close();
    assertNoLeak(app, reply, token);
  });

  it('accepts the scheme in any case', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `bEaReR ${signToken()}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind === 'open') outcome.socket.close();
  });

  it('accepts bearer.<jwt> as a subprotocol, selects the app protocol and never echoes the token', async () => {
    const token = signToken();
    const outcome = await openSocket(app.url('/chat'), { protocols: ['chat.v1', `bearer.${token}`] });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    assert.equal(outcome.protocol, 'chat.v1');
    const reply = await request(outcome.socket, 'whoami');
    assert.equal(reply.data.source, 'subprotocol');
    outcome.socket.close();
  });

  it('never selects the token even when it is offered first', async () => {
    const token = signToken();
    const outcome = await openSocket(app.url('/chat'), { protocols: [`bearer.${token}`, 'chat.v1'] });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    assert.equal(outcome.protocol, 'chat.v1');
    outcome.socket.close();
  });

  it('accepts the access_token cookie', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Cookie: `theme=dark; access_token=${signToken()}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    assert.equal((await request(outcome.socket, 'whoami')).data.source, 'cookie');
    outcome.socket.close();
  });

  it('ignores ?access_token= unless the query source is switched on', async () => {
    const token = signToken();
    const outcome = await openSocket(app.url(`/chat?access_token=${token}`));
    assert.equal(outcome.kind, 'refused');
    if (outcome.kind !== 'refused') return;
    assert.equal(outcome.status, 401);
    assert.equal(outcome.headers['www-authenticate'], 'Bearer realm="websocket"');
    assertNoLeak(app, outcome, token);
  });

  it('refuses a request without credentials with 401 and a bare Bearer challenge', async () => {
    const outcome = await openSocket(app.url('/chat'));
    assert.equal(outcome.kind, 'refused');
    if (outcome.kind !== 'refused') return;
    assert.equal(outcome.status, 401);
    assert.equal(outcome.headers['www-authenticate'], 'Bearer realm="websocket"');
    assert.equal(outcome.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(outcome.body), { error: 'unauthorized', reason: 'missing_credential' });
  });

  it('logs one debug line per refusal with the reason and the peer, never the URL', async () => {
    const before = app.logs.lines.length;
    await openSocket(app.url('/chat?access_token=secret-in-url'));
    const added = app.logs.lines.slice(before);
    assert.deepEqual(added, ['debug Refused WebSocket upgrade: missing_credential (401) from 127.0.0.1 WsAuth']);
    assert.ok(!app.logs.text().includes('secret-in-url'));
  });

  it('does not fall back to another source when the first present one is bad', async () => {
    const outcome = await openSocket(app.url('/chat'), {
      headers: { Authorization: 'Bearer not.a.token', Cookie: `access_token=${signToken()}` },
    });
    assert.equal(outcome.kind, 'refused');
    if (outcome.kind === 'refused') assert.equal(outcome.status, 401);
  });

  it('gives handleConnection the identity and the request', async () => {
    connectionLog.length = 0;
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ username: 'bob' })}` } });
    assert.equal(outcome.kind, 'open');
    assert.equal(connectionLog.length, 1);
    assert.equal((connectionLog[0].user as { username: string }).username, 'bob');
    assert.ok(connectionLog[0].hasRequest);
    if (outcome.kind === 'open') outcome.socket.close();
  });

  it('keeps the socket usable after garbage frames', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken()}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    const socket = outcome.socket;
    for (const frame of ['not json', '{"event":"nope"}', 'null', '"text"', '[1,2]', '{"event":{"x":1}}', '{']) socket.send(frame);
    socket.send(Buffer.from([0xff, 0x00, 0x13]));
    const reply = await request(socket, 'echo', { still: 'alive' });
    assert.deepEqual(reply.data, { still: 'alive' });
    socket.close();
    assert.equal((await closed(socket)).code, 1005);
  });

  it('answers a guard refusal with the same exception frame and keeps the socket open', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${signToken()}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    const exception = nextEvent(outcome.socket, 'exception');
    outcome.socket.send(JSON.stringify({ event: 'admin' }));
    assert.deepEqual((await exception).data, { status: 'error', message: 'Forbidden', code: 'forbidden' });
    assert.equal((await request(outcome.socket, 'echo', 1)).data, 1);
    outcome.socket.close();
  });
});
