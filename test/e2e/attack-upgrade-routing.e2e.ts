import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Roles } from '../../lib/index.js';
import { appModule, connectionLog, makeGateway } from '../support/fixtures.js';
import { freePort } from '../support/free-port.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';

// Attack on WsAuthAdapter's own upgrade router: every answer must be the one Nest's rule
// (`new URL(target, 'ws://' + host + '/').pathname` against the normalised gateway paths) gives.
const userToken = signToken({ sub: 'router-attacker' });
const adminToken = signToken({ sub: 'root', roles: ['admin'] });

function nestRoute(target: string, host: string): string | 'INVALID' {
  try {
    return new URL(target, 'ws://' + host + '/').pathname;
  } catch {
    return 'INVALID';
  }
}

async function lastGatewaySince(before: number): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    if (connectionLog.length > before) return connectionLog.at(-1)?.gateway;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

const TARGETS = [
  '/',
  '/?x=1',
  '/chat',
  '/chat/',
  '/chat?',
  '/chat??',
  '/chat?#',
  '/chat#?',
  '/chat?a#b',
  '/chat.',
  '/.chat',
  '/chat~',
  '/chat-',
  '/chat_',
  '/noslash',
  '/noslash/',
  '/slash',
  '/slash/',
  '/slash//',
  '/a.b~c-d_e',
  '/a.b~c-d_e/',
  '/a%2Eb~c-d_e',
  '/admin',
  '/admin/',
  '/admin.',
  '/Admin',
  '/admin/.',
  '/admin/./',
  '/x/./../admin',
  '/admin%2f',
  '/%61dmin',
  '//admin',
  '*',
  'ws://127.0.0.1/admin',
  'http://evil.example/chat',
  'ws://u:p@h/admin?x',
  '/chat%00',
  '/chat/' + 'seg/'.repeat(2500),
  '/chat' + '/seg'.repeat(2500),
  '/' + 'a'.repeat(12000) + '!',
  '/' + 'a.'.repeat(5000) + 'b',
  '/chat?' + 'q'.repeat(12000),
];

describe('attack: upgrade routing agrees with Nest for odd targets, hosts and gateway paths', () => {
  let app: TestApp;
  let sidePort: number;
  // normalised path -> gateway name, app server (port 0)
  const onApp: Record<string, string> = {
    '/': 'Root',
    '/chat': 'Chat',
    '/noslash': 'NoSlash',
    '/slash': 'Slash',
    '/a.b~c-d_e': 'Odd',
    '/admin': 'Admin',
  };
  const onSide: Record<string, string> = { '/side': 'Side', '/side2': 'Side2' };

  before(async () => {
    sidePort = await freePort();
    const Admin = makeGateway('Admin', 0, { path: '/admin' });
    Roles('admin')(Admin);
    app = await startTestApp(
      appModule([
        makeGateway('Root', 0, { path: '/' }),
        makeGateway('Chat', 0, { path: '/chat' }),
        makeGateway('NoSlash', 0, { path: 'noslash' }),
        makeGateway('Slash', 0, { path: '/slash/' }),
        makeGateway('Odd', 0, { path: '/a.b~c-d_e' }),
        Admin,
        makeGateway('Side', sidePort, { path: '/side' }),
        makeGateway('Side2', sidePort, { path: '/side2' }),
      ]),
    );
  });

  after(async () => {
    await app?.close();
  });

  async function check(port: number, table: Record<string, string>, target: string, host: string, extra: Array<[string, string]> = []) {
    const routed = nestRoute(target, host);
    for (const token of [userToken, adminToken]) {
      const count = connectionLog.length;
      const response = await rawUpgrade(port, upgradeRequest(target, [['Authorization', `Bearer ${token}`], ...extra], host));
      const label = `${JSON.stringify(target.length > 60 ? target.slice(0, 60) + '…' : target)} Host ${JSON.stringify(host)} -> Nest ${routed.slice(0, 40)}`;
      assert.ok(!response.raw.includes(token.slice(-20)), `${label}: token leaked`);
      if (routed === 'INVALID') {
        assert.equal(response.status, 400, `${label}: ${response.raw.slice(0, 60)}`);
        continue;
      }
      const gateway = table[routed];
      if (gateway === undefined) {
        assert.ok(response.silent, `${label}: no gateway, expected silent close, got ${response.raw.slice(0, 60)}`);
        continue;
      }
      if (gateway === 'Admin' && token === userToken) {
        assert.notEqual(response.status, 101, `${label}: admins-only gateway upgraded a user`);
        assert.ok(!response.silent, `${label}: a refusal is answered`);
        continue;
      }
      assert.equal(response.status, 101, `${label}: ${response.raw.slice(0, 60)}`);
      assert.equal(await lastGatewaySince(count), gateway, `${label}: wrong gateway`);
    }
  }

  for (const target of TARGETS) {
    it(`app server ${JSON.stringify(target.length > 60 ? target.slice(0, 60) + '…' : target)}`, async () => {
      await check(app.port, onApp, target, `127.0.0.1:${app.port}`);
    });
  }

  it('odd but parseable and unparseable Host headers (and more than 16 of them)', async () => {
    const hosts = [
      'a/b',
      'a#',
      'a?x',
      'user@a',
      'user:pw@a:1',
      'a\\b',
      'evil.example:80',
      '[::1]:1',
      'xn--nxasmq6b',
      'A.B.C.',
      '0x7f.1',
      '%41',
      '',
      'a b',
      '[::1',
      'a:99999',
      'a:b',
      '@',
      'a%zz',
      ...Array.from({ length: 20 }, (_, i) => `h${i}.example`),
      'a/b',
    ];
    for (const host of hosts) {
      for (const target of ['/chat', '/admin', '/./admin', '/nowhere']) await check(app.port, onApp, target, host);
    }
  });

  it('duplicated Host and a second Host that does not parse', async () => {
    for (const target of ['/chat', '/admin']) {
      await check(app.port, onApp, target, `127.0.0.1:${app.port}`, [['Host', 'a b']]);
      await check(app.port, onApp, target, 'a b', [['Host', `127.0.0.1:${app.port}`]]);
    }
  });

  // Node's HTTP parser answers these itself: the adapter never sees them.
  it('a target without a leading slash, and a missing Host, are refused by Node before routing', async () => {
    const noSlash = await rawUpgrade(app.port, upgradeRequest('noslash', [['Authorization', `Bearer ${adminToken}`]], `127.0.0.1:${app.port}`));
    assert.equal(noSlash.status, 400);
    assert.ok(!noSlash.raw.includes(adminToken.slice(-20)));
    for (const target of ['/chat', '/admin', '/./chat']) {
      const raw =
        [
          `GET ${target} HTTP/1.1`,
          'Connection: Upgrade',
          'Upgrade: websocket',
          'Sec-WebSocket-Version: 13',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          `Authorization: Bearer ${adminToken}`,
        ].join('\r\n') + '\r\n\r\n';
      const response = await rawUpgrade(app.port, raw);
      assert.equal(response.status, 400, `${target}: ${response.raw.slice(0, 60)}`);
      assert.ok(!response.raw.includes(adminToken.slice(-20)));
    }
  });

  for (const target of ['/side', '/side2', '/side/', '/./side2', '/chat', '/', '/side?x', '/Side', 'ws://x/side']) {
    it(`own port ${JSON.stringify(target)}`, async () => {
      await check(sidePort, onSide, target, `127.0.0.1:${sidePort}`);
      await check(sidePort, onSide, target, 'a b');
    });
  }

  it('app.close() leaves no upgrade listener on the app server', async () => {
    const other = await startTestApp(appModule([makeGateway('Chat', 0, { path: '/chat' })]));
    const server = other.app.getHttpServer();
    assert.ok(server.listeners('upgrade').length >= 1);
    await other.close();
    assert.equal(server.listeners('upgrade').length, 0);
  });
});
