import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appModule, makeGateway } from '../support/fixtures.js';
import { assertNotLeaked } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';

// WsAuthAdapter routes plain paths without Nest's URL parse: every request target must still
// reach the gateway Nest's own rule (`new URL(target, 'ws://' + host + '/').pathname`) names.
// (A target Node's HTTP parser refuses, such as one starting with a backslash, never gets here.)
const TARGETS = [
  '/chat',
  '/chat?access_token=x&y=%2F',
  '/chat/',
  '/CHAT',
  '/chat.',
  '/chat..',
  '/chat.v2',
  '/./chat',
  '/x/../chat',
  '/x/%2e%2e/chat',
  '/%63hat',
  '/chat#x',
  '//chat',
  '/ch%2Fat',
  '/chat;v=1',
  '/chat/../admin',
  '/chat/x/..',
];

describe('upgrade routing: the same gateway for every request target as Nest routes it', () => {
  let app: TestApp;
  const authorization: [string, string] = ['Authorization', `Bearer ${signToken({ sub: 'router' })}`];

  before(async () => {
    app = await startTestApp(appModule([makeGateway('Chat', 0, { path: '/chat' }), makeGateway('Admin', 0, { path: '/admin' })]));
  });

  after(async () => {
    await app.close();
  });

  for (const target of TARGETS) {
    it(`${JSON.stringify(target)}`, async () => {
      const routed = new URL(target, `ws://127.0.0.1:${app.port}/`).pathname;
      const response = await rawUpgrade(app.port, upgradeRequest(target, [authorization], `127.0.0.1:${app.port}`));
      if (routed === '/chat' || routed === '/admin') assert.equal(response.status, 101, `${target} routes to ${routed}`);
      else assert.ok(response.silent, `${target} (${routed}) names no gateway: the socket is closed unanswered, got ${response.raw.slice(0, 40)}`);
      assertNotLeaked(app, response.raw, authorization[1].slice(7));
    });
  }

  it('answers a Host that is no URL host as Nest does, whatever the path', async () => {
    for (const host of ['a b', '127.0.0.1:99999', '[::1']) {
      for (const target of ['/chat', '/./chat']) {
        const response = await rawUpgrade(app.port, upgradeRequest(target, [authorization], host));
        assert.equal(response.status, 400, `${host} ${target}: ${response.raw.slice(0, 40)}`);
        assertNotLeaked(app, response.raw, authorization[1].slice(7));
      }
    }
  });

  it('routes a plain path without parsing a URL, a host seen before included', async () => {
    const Original = globalThis.URL;
    let parsed = 0;
    globalThis.URL = class extends Original {
      constructor(...args: ConstructorParameters<typeof URL>) {
        super(...args);
        parsed++;
      }
    };
    try {
      for (let i = 0; i < 5; i++) {
        const response = await rawUpgrade(app.port, upgradeRequest('/chat?i=1', [authorization], `127.0.0.1:${app.port}`));
        assert.equal(response.status, 101);
      }
    } finally {
      globalThis.URL = Original;
    }
    assert.equal(parsed, 0);
  });
});
