import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WsRefusal } from '../../lib/index.js';
import { appModule, connectionLog, makeGateway } from '../support/fixtures.js';
import { freePort } from '../support/free-port.js';
import { assertNotLeaked, assertNotUpgraded } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';
import { openSocket, request, type Outcome } from '../support/ws-client.js';

interface Layout {
  name: string;
  gateway: string;
  url(): string;
  port(): number;
  path: string;
}

/**
 * Nest builds a different ws server for each of these (WsAdapter.create): noServer on the
 * app's server, `new Server({ port })`, and a private http server per port shared by paths.
 * Authentication must not depend on which one a gateway got.
 */
describe('every server layout Nest creates is authenticated', () => {
  let app: TestApp;
  const ports = { own: 0, ownPath: 0, shared: 0 };
  const at = (port: () => number, path: string) => () => `ws://127.0.0.1:${port()}${path}`;
  const appPort = () => app.port;

  const layouts: Layout[] = [
    { name: "the app's HTTP server, with a path", gateway: 'OnAppServer', port: appPort, path: '/app' },
    { name: 'its own port, without a path', gateway: 'OwnPort', port: () => ports.own, path: '/any/path' },
    { name: 'its own port, with a path', gateway: 'OwnPortPath', port: () => ports.ownPath, path: '/own' },
    { name: 'an own port shared by two paths', gateway: 'SharedDefaults', port: () => ports.shared, path: '/defaults' },
  ].map((layout) => ({ ...layout, url: at(layout.port, layout.path) }));

  before(async () => {
    ports.own = await freePort();
    ports.ownPath = await freePort();
    ports.shared = await freePort();
    app = await startTestApp(
      appModule([
        makeGateway('OnAppServer', 0, { path: '/app' }),
        makeGateway('OwnPort', ports.own),
        makeGateway('OwnPortPath', ports.ownPath, { path: '/own' }),
        makeGateway('SharedDefaults', ports.shared, { path: '/defaults' }),
        makeGateway('SharedCookieOnly', ports.shared, { path: '/cookie-only', wsAuth: { credentials: ['cookie'] } }),
        makeGateway('Refusing', 0, {
          path: '/refusing',
          wsAuth: {
            validate: () => {
              throw new WsRefusal('forbidden');
            },
          },
        }),
      ]),
    );
  });
  after(() => app.close());

  async function expectOpen(outcome: Outcome, gateway: string, username: string, source = 'header') {
    assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
    if (outcome.kind !== 'open') return;
    try {
      const reply = await request(outcome.socket, 'whoami');
      assert.deepEqual([reply.data.gateway, reply.data.username, reply.data.source], [gateway, username, source]);
    } finally {
      outcome.socket.close();
    }
  }

  for (const layout of layouts) {
    describe(`a gateway on ${layout.name}`, () => {
      it('refuses a client without a token with 401 and the bearer challenge', async () => {
        const outcome = await openSocket(layout.url());
        assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
        if (outcome.kind !== 'refused') return;
        assert.equal(outcome.status, 401);
        assert.equal(outcome.headers['www-authenticate'], 'Bearer realm="websocket"');
        assert.deepEqual(JSON.parse(outcome.body), { error: 'unauthorized', reason: 'missing_credential' });
      });

      it('refuses a forged token with 401 invalid_token and never shows it', async () => {
        const forged = signToken({}, {}, 'another-secret-entirely-0123456789-0123456789');
        const outcome = await openSocket(layout.url(), { headers: { Authorization: `Bearer ${forged}` } });
        assert.equal(outcome.kind, 'refused');
        if (outcome.kind !== 'refused') return;
        assert.equal(outcome.status, 401);
        assert.equal(outcome.headers['www-authenticate'], 'Bearer realm="websocket", error="invalid_token"');
        assertNotLeaked(app, outcome, forged);
      });

      it('opens for a valid token, with the identity in handleConnection and in handlers', async () => {
        const before = connectionLog.length;
        const outcome = await openSocket(layout.url(), { headers: { Authorization: `Bearer ${signToken({ username: 'carol' })}` } });
        await expectOpen(outcome, layout.gateway, 'carol');
        const seen = connectionLog.slice(before).find((entry) => entry.gateway === layout.gateway);
        assert.equal((seen?.user as { username?: string } | undefined)?.username, 'carol');
      });
    });
  }

  it('does not upgrade an unknown path on a port shared by paths, even with a valid token', async () => {
    const token = signToken();
    const response = await rawUpgrade(ports.shared, upgradeRequest('/elsewhere', [['Authorization', `Bearer ${token}`]]));
    assertNotUpgraded(response);
    assertNotLeaked(app, response.raw, token);
  });

  it('does not upgrade another path on an own port with a path, even with a valid token', async () => {
    const response = await rawUpgrade(ports.ownPath, upgradeRequest('/elsewhere', [['Authorization', `Bearer ${signToken()}`]]));
    assertNotUpgraded(response);
  });

  describe('per-gateway wsAuth overrides', () => {
    const cookieOnly = () => `ws://127.0.0.1:${ports.shared}/cookie-only`;

    it('ignores a header token on a cookie-only gateway: 401 missing_credential', async () => {
      const outcome = await openSocket(cookieOnly(), { headers: { Authorization: `Bearer ${signToken()}` } });
      assert.equal(outcome.kind, 'refused');
      if (outcome.kind !== 'refused') return;
      assert.equal(outcome.status, 401);
      assert.equal(outcome.headers['www-authenticate'], 'Bearer realm="websocket"');
      assert.equal(JSON.parse(outcome.body).reason, 'missing_credential');
    });

    it('opens the cookie-only gateway with the cookie', async () => {
      const outcome = await openSocket(cookieOnly(), { headers: { Cookie: `access_token=${signToken({ username: 'dave' })}` } });
      await expectOpen(outcome, 'SharedCookieOnly', 'dave', 'cookie');
    });

    it('keeps the module defaults on the other gateway of the same port', async () => {
      const outcome = await openSocket(`ws://127.0.0.1:${ports.shared}/defaults`, { headers: { Authorization: `Bearer ${signToken({ username: 'erin' })}` } });
      await expectOpen(outcome, 'SharedDefaults', 'erin');
    });

    it('applies a gateway validate() that refuses, while the same token opens other gateways', async () => {
      const token = signToken({ username: 'frank' });
      const refused = await openSocket(app.url('/refusing'), { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(refused.kind, 'refused');
      if (refused.kind === 'refused') {
        assert.equal(refused.status, 403);
        assert.equal(JSON.parse(refused.body).reason, 'forbidden');
      }
      assertNotLeaked(app, refused, token);
      await expectOpen(await openSocket(app.url('/app'), { headers: { Authorization: `Bearer ${token}` } }), 'OnAppServer', 'frank');
    });
  });
});
