import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appModule, makeGateway } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';
import { openSocket, request } from '../support/ws-client.js';

// The usual slip: WsAuthModule imported, `app.useWebSocketAdapter(new WsAuthAdapter(app))`
// forgotten. Nest would fall back to socket.io (a process exit when it is not installed).
describe('an app that sets no WebSocket adapter', { timeout: 20_000 }, () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(appModule([makeGateway('NoAdapterChat', 0, { path: '/chat' })]), { adapter: false });
  });
  after(() => app?.close());

  it('is served by WsAuthAdapter: no credential, no socket', async () => {
    const outcome = await openSocket(app.url('/chat'));
    assert.equal(outcome.kind === 'refused' && outcome.status, 401);
  });

  it('accepts a valid token and carries its identity', async () => {
    const token = signToken({ sub: 'no-adapter', username: 'nora' });
    const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    assert.equal((await request(outcome.socket, 'whoami')).data.username, 'nora');
    outcome.socket.close();
    assert.ok(!app.logs.text().includes(token));
  });

  it('says so once in the log', () => {
    assert.equal(app.logs.lines.filter((line) => line.includes('No WebSocket adapter was set')).length, 1, app.logs.text());
  });
});
