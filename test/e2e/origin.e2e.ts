import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appModule, makeGateway } from '../support/fixtures.js';
import { assertNotLeaked, assertRefused } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket, request } from '../support/ws-client.js';

const ALLOWED = 'https://app.example.com';

// Every form a page on another site, or a sloppy comparison, could produce. Only the exact
// serialized origin (RFC 6454 section 6.2) is the allowed one.
const FOREIGN_ORIGINS = [
  'null',
  'https://app.example.com.evil.com',
  'https://evil.com',
  'https://evil.com/https://app.example.com',
  'https://app.example.com:8443',
  'http://app.example.com',
  'ws://app.example.com',
  'https://app.example.com/',
  'https://app.example.com/chat',
  'https://user@app.example.com',
  // Browsers never write the default port, so this spelling comes only from a forger.
  'https://app.example.com:443',
  // Node joins repeated Origin headers with ", ", which is no origin at all.
  `${ALLOWED}, https://evil.com`,
  '',
];

describe('Origin allowlist', () => {
  let app: TestApp;
  let validateCalls = 0;
  before(async () => {
    app = await startTestApp(
      appModule([makeGateway('Chat', 0, { path: '/chat' })], {
        jwt: { secret: TEST_SECRET },
        allowedOrigins: [ALLOWED],
        validate: (claims) => {
          validateCalls++;
          return claims;
        },
      }),
    );
  });
  after(() => app.close());

  const upgradeWith = (origin: string | undefined, token: string) =>
    rawUpgrade(
      app.port,
      upgradeRequest('/chat', [['Authorization', `Bearer ${token}`], ...(origin === undefined ? [] : [['Origin', origin] as [string, string]])]),
    );

  it('opens for the exact allowed origin and carries the identity', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Origin: ALLOWED, Authorization: `Bearer ${signToken({ username: 'alice' })}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    assert.equal((await request(outcome.socket, 'whoami')).data.username, 'alice');
    outcome.socket.close();
  });

  // Browsers serialize the host in lower case; an upper-case spelling names the very same
  // origin (hosts are case-insensitive), so accepting it lets in no one new.
  it('treats an upper-case spelling of the allowed origin as the same origin', async () => {
    assert.equal((await upgradeWith('HTTPS://APP.EXAMPLE.COM', signToken())).status, 101);
  });

  it('lets a request without Origin through: only browsers send one, and they always do', async () => {
    assert.equal((await upgradeWith(undefined, signToken())).status, 101);
  });

  for (const origin of FOREIGN_ORIGINS) {
    it(`refuses Origin ${JSON.stringify(origin)} with 403 even with a valid token`, async () => {
      const token = signToken();
      const before = validateCalls;
      const response = await upgradeWith(origin, token);
      assertRefused(response, 403, 'origin_not_allowed');
      assert.equal(response.headers['www-authenticate'], undefined);
      assert.equal(validateCalls, before, 'a refused origin must not reach validate()');
      assertNotLeaked(app, response.raw, token);
    });
  }

  it('refuses a foreign origin before looking at the credential: 403 for a bad token or none', async () => {
    const forged = signToken({}, {}, 'not-the-secret-of-this-app-0123456789');
    const bad = await upgradeWith('https://evil.com', forged);
    assertRefused(bad, 403, 'origin_not_allowed');
    assertNotLeaked(app, bad.raw, forged);
    const none = await rawUpgrade(app.port, upgradeRequest('/chat', [['Origin', 'https://evil.com']]));
    assertRefused(none, 403, 'origin_not_allowed');
  });

  // ws reads the origin of a version-8 (hybi-10) handshake from Sec-WebSocket-Origin.
  it('checks Sec-WebSocket-Origin on a version 8 handshake', async () => {
    const token = signToken();
    const version8 = (origin: string) =>
      rawUpgrade(
        app.port,
        upgradeRequest('/chat', [
          ['Authorization', `Bearer ${token}`],
          ['Sec-WebSocket-Origin', origin],
        ]).replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'),
      );
    const foreign = await version8('https://evil.com');
    assertRefused(foreign, 403, 'origin_not_allowed');
    assertNotLeaked(app, foreign.raw, token);
    assert.equal((await version8(ALLOWED)).status, 101);
  });
});

describe('same-host Origin check (no allowlist)', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(appModule([makeGateway('Chat', 0, { path: '/chat' })]));
  });
  after(() => app.close());

  const upgradeWith = (origin: string, token: string) =>
    rawUpgrade(
      app.port,
      upgradeRequest(
        '/chat',
        [
          ['Authorization', `Bearer ${token}`],
          ['Origin', origin],
        ],
        `127.0.0.1:${app.port}`,
      ),
    );

  it('opens when Origin names the Host the request was sent to', async () => {
    const outcome = await openSocket(app.url('/chat'), { headers: { Origin: `http://127.0.0.1:${app.port}`, Authorization: `Bearer ${signToken()}` } });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind === 'open') outcome.socket.close();
  });

  for (const origin of ['http://127.0.0.1:1', 'http://127.0.0.1', 'http://localhost:PORT', 'http://127.0.0.1:PORT.evil.com', 'null']) {
    it(`refuses Origin ${origin} with 403`, async () => {
      const token = signToken();
      const response = await upgradeWith(origin.replace('PORT', String(app.port)), token);
      assertRefused(response, 403, 'origin_not_allowed');
      assertNotLeaked(app, response.raw, token);
    });
  }

  it('refuses a foreign Sec-WebSocket-Origin on a version 8 handshake', async () => {
    const request = upgradeRequest(
      '/chat',
      [
        ['Authorization', `Bearer ${signToken()}`],
        ['Sec-WebSocket-Origin', 'https://evil.com'],
      ],
      `127.0.0.1:${app.port}`,
    );
    assertRefused(await rawUpgrade(app.port, request.replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8')), 403, 'origin_not_allowed');
  });
});
