import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appModule, makeGateway } from '../support/fixtures.js';
import { assertNotLeaked, assertNotUpgraded, assertRefused, assertStillServes } from '../support/handshake-assertions.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';

function withoutHeader(request: string, name: string): string {
  return request
    .split('\r\n')
    .filter((line) => !line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .join('\r\n');
}

function filler(count: number, width: number): Array<[string, string]> {
  return Array.from({ length: count }, (_, i) => [`X-Filler-${i}`, 'v'.repeat(width)]);
}

describe('hostile and malformed upgrade requests', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(appModule([makeGateway('Chat', 0, { path: '/chat' })]));
  });
  after(() => app.close());

  const send = (path: string, headers: Array<[string, string]> = []) => rawUpgrade(app.port, upgradeRequest(path, headers));

  describe('more than one credential', () => {
    // Node keeps only the first Authorization; a proxy in front may keep the last. Refusing
    // is the only answer on which both agree.
    it('refuses two valid Authorization headers with 400 and no challenge', async () => {
      const first = signToken({ username: 'alice' });
      const second = signToken({ username: 'mallory' });
      const response = await send('/chat', [
        ['Authorization', `Bearer ${first}`],
        ['authorization', `Bearer ${second}`],
      ]);
      assertRefused(response, 400, 'ambiguous_credential');
      assert.equal(response.headers['www-authenticate'], undefined);
      assertNotLeaked(app, response.raw, first);
      assertNotLeaked(app, response.raw, second);
      await assertStillServes(app.url('/chat'));
    });

    it('refuses a valid and an invalid Authorization header, in either order', async () => {
      const valid = signToken();
      for (const pair of [
        [`Bearer ${valid}`, 'Bearer not.a.jwt'],
        ['Bearer not.a.jwt', `Bearer ${valid}`],
      ]) {
        const response = await send(
          '/chat',
          pair.map((value): [string, string] => ['Authorization', value]),
        );
        assertRefused(response, 400, 'ambiguous_credential');
        assert.equal(response.headers['www-authenticate'], undefined);
        assertNotLeaked(app, response.raw, valid);
      }
      await assertStillServes(app.url('/chat'));
    });

    it('refuses two bearer. subprotocol entries with 400', async () => {
      const first = signToken({ username: 'alice' });
      const second = signToken({ username: 'mallory' });
      const response = await send('/chat', [['Sec-WebSocket-Protocol', `chat.v1, bearer.${first}, bearer.${second}`]]);
      assertRefused(response, 400, 'ambiguous_credential');
      assertNotLeaked(app, response.raw, first);
      assertNotLeaked(app, response.raw, second);
    });

    it('refuses the same bearer. entry offered twice (ws itself rejects the duplicate) with 400', async () => {
      const token = signToken();
      const response = await send('/chat', [['Sec-WebSocket-Protocol', `bearer.${token}, bearer.${token}`]]);
      assert.equal(response.status, 400);
      assertNotLeaked(app, response.raw, token);
    });

    it('refuses two access_token cookies, in one Cookie header or in two, with 400', async () => {
      const first = signToken({ username: 'alice' });
      const second = signToken({ username: 'mallory' });
      const oneHeader = await send('/chat', [['Cookie', `access_token=${first}; theme=dark; access_token=${second}`]]);
      assertRefused(oneHeader, 400, 'ambiguous_credential');
      // Node joins repeated Cookie headers with "; " (http.IncomingMessage#headers).
      const twoHeaders = await send('/chat', [
        ['Cookie', `access_token=${first}`],
        ['Cookie', `access_token=${second}`],
      ]);
      assertRefused(twoHeaders, 400, 'ambiguous_credential');
      for (const token of [first, second]) assertNotLeaked(app, oneHeader.raw + twoHeaders.raw, token);
      await assertStillServes(app.url('/chat'));
    });
  });

  describe('bytes an HTTP parser must refuse', () => {
    // Each line break splits a valid token in two: if the halves were ever rejoined the
    // request would upgrade, so "not 101" really tests the parser's strictness.
    for (const [name, separator] of [
      ['CRLF', '\r\n'],
      ['a bare LF', '\n'],
      ['a bare CR', '\r'],
    ] as const) {
      it(`answers an error for ${name} inside a bearer token and keeps serving`, async () => {
        const token = signToken();
        const response = await send('/chat', [['Authorization', `Bearer ${token.slice(0, 30)}${separator}${token.slice(30)}`]]);
        assertNotUpgraded(response);
        assertNotLeaked(app, response.raw, token.slice(30));
        await assertStillServes(app.url('/chat'));
      });
    }

    it('answers an error for a line break that smuggles a second header after the token', async () => {
      const token = signToken();
      const response = await send('/chat', [['Authorization', `Bearer ${token}\nX-Smuggled: 1`]]);
      assertNotUpgraded(response);
      assertNotLeaked(app, response.raw, token);
      await assertStillServes(app.url('/chat'));
    });

    for (const count of [2000, 3000]) {
      it(`does not upgrade a request with ${count} headers before a valid token`, async () => {
        const token = signToken();
        const response = await send('/chat', [...filler(count, 12), ['Authorization', `Bearer ${token}`]]);
        assertNotUpgraded(response);
        if (!response.silent) assert.ok(response.status! < 500, `expected a 4xx, got ${response.status}`);
        assertNotLeaked(app, response.raw, token);
        await assertStillServes(app.url('/chat'));
      });
    }

    it("never sees a token beyond Node's header count limit (2000), so answers 401 missing", async () => {
      const token = signToken();
      const tiny = Array.from({ length: 2000 }, (): [string, string] => ['a', '1']);
      const response = await send('/chat', [...tiny, ['Authorization', `Bearer ${token}`]]);
      assertRefused(response, 401, 'missing_credential');
      assertNotLeaked(app, response.raw, token);
    });
  });

  describe('requests that are not a complete WebSocket handshake', () => {
    it('refuses a request without Host and without a credential as malformed', async () => {
      const response = await rawUpgrade(app.port, withoutHeader(upgradeRequest('/chat'), 'Host'));
      assertRefused(response, 400, 'malformed_request');
    });

    it('refuses a request without Host even with a valid token (RFC 9112 section 3.2)', async () => {
      const token = signToken();
      const response = await rawUpgrade(app.port, withoutHeader(upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]]), 'Host'));
      assertNotUpgraded(response);
      assert.equal(response.status, 400);
    });

    it('refuses a cross-site request without Host as malformed, before any Origin or token work', async () => {
      const token = signToken();
      const request = withoutHeader(
        upgradeRequest('/chat', [
          ['Authorization', `Bearer ${token}`],
          ['Origin', 'http://127.0.0.1'],
        ]),
        'Host',
      );
      const response = await rawUpgrade(app.port, request);
      assertRefused(response, 400, 'malformed_request');
      assertNotLeaked(app, response.raw, token);
    });

    it('answers a plain GET (no Upgrade header) with a complete HTTP response, not 101', async () => {
      const token = signToken();
      const request = withoutHeader(upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]]), 'Upgrade').replace(
        'Connection: Upgrade',
        'Connection: close',
      );
      const response = await rawUpgrade(app.port, request);
      assertNotUpgraded(response);
      assert.ok(!response.silent);
      assertNotLeaked(app, response.raw, token);
    });

    for (const [name, edit] of [
      ['an unsupported Sec-WebSocket-Version', (r: string) => r.replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 12')],
      ['no Sec-WebSocket-Version', (r: string) => withoutHeader(r, 'Sec-WebSocket-Version')],
      ['no Sec-WebSocket-Key', (r: string) => withoutHeader(r, 'Sec-WebSocket-Key')],
    ] as const) {
      it(`answers ${name} with a complete 400, even with a valid token`, async () => {
        const token = signToken();
        const response = await rawUpgrade(app.port, edit(upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]])));
        assertNotUpgraded(response);
        assert.equal(response.status, 400);
        assertNotLeaked(app, response.raw, token);
      });
    }
  });

  describe('Authorization that is not a bearer token', () => {
    for (const value of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer ', 'Bearer a b', 'Token abc.def.ghi']) {
      it(`refuses "${value}" with 401 invalid_token`, async () => {
        const response = await send('/chat', [['Authorization', value]]);
        assertRefused(response, 401, 'invalid_credential');
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="websocket", error="invalid_token"');
      });
    }

    it('does not fall back to a valid cookie when the Authorization header is Basic', async () => {
      const response = await send('/chat', [
        ['Authorization', 'Basic YWxpY2U6c2VjcmV0'],
        ['Cookie', `access_token=${signToken()}`],
      ]);
      assertRefused(response, 401, 'invalid_credential');
    });
  });

  describe('paths no gateway serves', () => {
    for (const path of ['/nope', '/chat/extra', '/CHAT', '/chat/', '//chat']) {
      it(`closes ${path} without upgrading, even with a valid token`, async () => {
        const token = signToken();
        const response = await send(path, [['Authorization', `Bearer ${token}`]]);
        assertNotUpgraded(response);
        assert.ok(response.silent, `expected a bare close, got ${JSON.stringify(response.raw.slice(0, 120))}`);
        assertNotLeaked(app, response.raw, token);
      });
    }
  });

  it('ignores a query token when the query source is off: 401 missing, and the URL is not logged', async () => {
    const token = signToken();
    const response = await send(`/chat?access_token=${token}`);
    assertRefused(response, 401, 'missing_credential');
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="websocket"');
    assertNotLeaked(app, response.raw, token);
    assert.ok(!app.logs.text().includes('access_token='), 'the request URL must not be logged');
  });
});
