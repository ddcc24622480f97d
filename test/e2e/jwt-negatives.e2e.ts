import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import type WebSocket from 'ws';
import type { WsAuthJwtOptions } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { flipCharacter, hmacSignedToken, pemKeyPair } from '../support/forged-tokens.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { handMadeToken, nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';
import { nextEvent, openSocket, request } from '../support/ws-client.js';

const INVALID_TOKEN_CHALLENGE = 'Bearer realm="websocket", error="invalid_token"';
const HS256_HEADER = '{"alg":"HS256","typ":"JWT"}';

type Carrier = 'header' | 'subprotocol' | 'cookie';

function carried(token: string, carrier: Carrier): Array<[string, string]> {
  if (carrier === 'subprotocol') return [['Sec-WebSocket-Protocol', `chat.v1, bearer.${token}`]];
  if (carrier === 'cookie') return [['Cookie', `theme=dark; access_token=${token}`]];
  return [['Authorization', `Bearer ${token}`]];
}

/**
 * A raw socket sees everything the server wrote (status line, every header, body), so the
 * leak check covers more than a WebSocket client would expose.
 */
async function assertInvalidToken(app: TestApp, token: string, carrier: Carrier = 'header') {
  const response = await rawUpgrade(app.port, upgradeRequest('/chat', carried(token, carrier)));
  assert.equal(response.status, 401, `expected 401, got ${JSON.stringify(response.raw.slice(0, 120))}`);
  assert.equal(response.headers['www-authenticate'], INVALID_TOKEN_CHALLENGE);
  assert.deepEqual(JSON.parse(response.body), { error: 'unauthorized', reason: 'invalid_credential' });
  // Shorter strings would match innocent text such as a Date header.
  if (token.length >= 3) {
    assert.ok(!response.raw.includes(token), 'the client must not get its token back');
    assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
  }
  return response;
}

async function openWith(app: TestApp, token: string): Promise<WebSocket> {
  const outcome = await openSocket(app.url('/chat'), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(outcome.kind, 'open', `a valid token must open the socket, got ${JSON.stringify(outcome)}`);
  return (outcome as { socket: WebSocket }).socket;
}

async function assertOpens(app: TestApp, token: string, username = 'alice') {
  const socket = await openWith(app, token);
  try {
    assert.equal((await request(socket, 'whoami')).data.username, username);
  } finally {
    socket.close();
  }
}

function bootChat(jwtOptions: WsAuthJwtOptions): Promise<TestApp> {
  return startTestApp(appModule([makeGateway('Chat', 0, { path: '/chat' })], { jwt: jwtOptions }));
}

function segments(token: string): [string, string, string] {
  const [header, payload, signature] = token.split('.');
  return [header, payload, signature];
}

const rsa = pemKeyPair('rsa');
const live = () => nowSeconds() + 300;

describe('JWT negatives over real upgrades', () => {
  let app: TestApp;
  let rsaApp: TestApp;
  let pinnedApp: TestApp;
  let noExpApp: TestApp;
  let shortApp: TestApp;

  before(async () => {
    [app, rsaApp, pinnedApp, noExpApp, shortApp] = await Promise.all([
      bootChat({ secret: TEST_SECRET }),
      bootChat({ publicKey: rsa.publicKey }),
      bootChat({ secret: TEST_SECRET, issuer: 'https://id.example.test', audience: 'chat-api' }),
      bootChat({ secret: TEST_SECRET, requireExpiration: false }),
      bootChat({ secret: TEST_SECRET, maxTokenLength: 100 }),
    ]);
  });
  after(() => Promise.all([app, rsaApp, pinnedApp, noExpApp, shortApp].map((each) => each?.close())));

  it('control: a valid HS256 token opens the socket', () => assertOpens(app, signToken()));

  describe('alg none', () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      it(`refuses alg "${alg}" with an empty signature`, async () => {
        await assertInvalidToken(app, handMadeToken({ alg, typ: 'JWT' }, { sub: '1', exp: live(), roles: ['admin'] }));
      });

      it(`refuses alg "${alg}" carrying a real HMAC signature`, async () => {
        // The signature is right for the secret: only the header's algorithm is wrong.
        await assertInvalidToken(app, hmacSignedToken(JSON.stringify({ alg, typ: 'JWT' }), `{"sub":"1","exp":${live()}}`, TEST_SECRET));
      });
    }

    for (const carrier of ['subprotocol', 'cookie'] as const) {
      it(`refuses alg "none" carried as ${carrier}`, async () => {
        await assertInvalidToken(app, handMadeToken({ alg: 'none' }, { sub: '1', exp: live() }, 'c2ln'), carrier);
      });
    }

    it('refuses alg "none" against the public-key app too', async () => {
      await assertInvalidToken(rsaApp, handMadeToken({ alg: 'none' }, { sub: '1', exp: live() }, 'c2ln'));
    });
  });

  describe('algorithm confusion and algorithms outside the pinned list', () => {
    it('control: an RS256 token opens the public-key app', () => {
      return assertOpens(rsaApp, signToken({ username: 'rsa-user' }, { algorithm: 'RS256' }, rsa.privateKey), 'rsa-user');
    });

    it('refuses HS256 signed with the RSA public key PEM as the HMAC secret', async () => {
      const payload = `{"sub":"1","username":"mallory","exp":${live()}}`;
      await assertInvalidToken(rsaApp, hmacSignedToken(HS256_HEADER, payload, rsa.publicKey));
      await assertInvalidToken(rsaApp, hmacSignedToken(HS256_HEADER, payload, rsa.publicKey.trim()));
      await assertInvalidToken(rsaApp, hmacSignedToken(HS256_HEADER, payload, rsa.publicKey), 'subprotocol');
    });

    it('refuses RS256 signed by another key and RS512 signed by the right key', async () => {
      await assertInvalidToken(rsaApp, signToken({}, { algorithm: 'RS256' }, pemKeyPair('rsa').privateKey));
      await assertInvalidToken(rsaApp, signToken({}, { algorithm: 'RS512' }, rsa.privateKey));
    });

    it('refuses HS512 and HS384 against the default HS256-only app, even with the right secret', async () => {
      await assertInvalidToken(app, signToken({}, { algorithm: 'HS512' }));
      await assertInvalidToken(app, signToken({}, { algorithm: 'HS384' }));
    });

    it('refuses RS256 against the secret app', async () => {
      await assertInvalidToken(app, signToken({}, { algorithm: 'RS256' }, rsa.privateKey));
    });
  });

  describe('tampering', () => {
    it('refuses a changed claim under the original signature', async () => {
      const [header, payload, signature] = segments(signToken());
      const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), roles: ['admin'] };
      const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      await assertInvalidToken(app, forged);
      await assertInvalidToken(app, forged, 'cookie');
    });

    it('refuses a tampered signature', async () => {
      const [header, payload, signature] = segments(signToken());
      await assertInvalidToken(app, `${header}.${payload}.${flipCharacter(signature)}`);
    });

    it('refuses a truncated signature', async () => {
      const [header, payload, signature] = segments(signToken());
      await assertInvalidToken(app, `${header}.${payload}.${signature.slice(0, -4)}`);
      await assertInvalidToken(app, `${header}.${payload}.${signature.slice(0, 1)}`);
    });

    it('refuses a removed signature, with or without the trailing dot', async () => {
      const [header, payload] = segments(signToken());
      await assertInvalidToken(app, `${header}.${payload}.`);
      await assertInvalidToken(app, `${header}.${payload}`);
    });
  });

  describe('time claims', () => {
    it('refuses an expired token on every carrier', async () => {
      const expired = signToken({}, { expiresIn: -60 });
      for (const carrier of ['header', 'subprotocol', 'cookie'] as const) await assertInvalidToken(app, expired, carrier);
    });

    it('refuses a token whose nbf is in the future', async () => {
      await assertInvalidToken(app, signToken({}, { notBefore: 60 }));
    });

    it('refuses a token without exp by default, and a requireExpiration: false app accepts it', async () => {
      const endless = jwt.sign({ sub: '1', username: 'alice' }, TEST_SECRET);
      assert.equal(jwt.decode(endless, { json: true })?.exp, undefined);
      await assertInvalidToken(app, endless);
      await assertOpens(noExpApp, endless);
    });

    it('still refuses an expired token in the requireExpiration: false app', async () => {
      await assertInvalidToken(noExpApp, signToken({}, { expiresIn: -60 }));
    });
  });

  describe('issuer and audience', () => {
    const right = { issuer: 'https://id.example.test', audience: 'chat-api' };

    it('control: the configured issuer and audience open the socket', () => assertOpens(pinnedApp, signToken({}, right)));

    it('refuses a wrong issuer', async () => {
      await assertInvalidToken(pinnedApp, signToken({}, { ...right, issuer: 'https://evil.example.test' }));
    });

    it('refuses a wrong audience', async () => {
      await assertInvalidToken(pinnedApp, signToken({}, { ...right, audience: 'billing-api' }));
    });

    it('refuses a token with neither claim', async () => {
      await assertInvalidToken(pinnedApp, signToken());
    });
  });

  describe('__proto__ claims', () => {
    it('opens for a validly signed token but grants no role through the prototype', async () => {
      // Built by hand: JSON.stringify would drop the literal "__proto__" key an attacker sends.
      const payload = `{"sub":"1","iat":${nowSeconds()},"exp":${live()},"__proto__":{"roles":["admin"]}}`;
      const token = hmacSignedToken(HS256_HEADER, payload, TEST_SECRET);
      assert.ok(Buffer.from(token.split('.')[1], 'base64url').toString().includes('"__proto__"'));
      const socket = await openWith(app, token);
      try {
        const exception = nextEvent(socket, 'exception');
        socket.send(JSON.stringify({ event: 'admin' }));
        assert.deepEqual((await exception).data, { status: 'error', message: 'Forbidden', code: 'forbidden' });
        assert.deepEqual((await request(socket, 'whoami')).data.roles, []);
      } finally {
        socket.close();
      }
    });
  });

  describe('garbage', () => {
    const garbage: Record<string, () => string> = {
      'one word': () => 'abc',
      'two segments': () => 'a.b',
      'four segments': () => 'a.b.c.d',
      'three dots only': () => '...',
      'standard base64 characters': () => signToken().replace(/-|_/g, '+') + '==',
      'characters outside base64': () => `${segments(signToken())[0]}.$%*!.${segments(signToken())[2]}`,
      'a JSON string header': () => hmacSignedToken('"HS256"', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
      'a JSON array header': () => hmacSignedToken('[{"alg":"HS256"}]', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
      'a null header': () => hmacSignedToken('null', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
      'a header that is not JSON': () => hmacSignedToken('{alg:HS256}', `{"sub":"1","exp":${live()}}`, TEST_SECRET),
      'a JSON array payload': () => hmacSignedToken(HS256_HEADER, `[{"sub":"1","exp":${live()}}]`, TEST_SECRET),
      'a number payload': () => hmacSignedToken(HS256_HEADER, '42', TEST_SECRET),
      'a null payload': () => hmacSignedToken(HS256_HEADER, 'null', TEST_SECRET),
      'a payload that is not JSON': () => hmacSignedToken(HS256_HEADER, '{"sub":', TEST_SECRET),
      'a non-string sub': () => hmacSignedToken(HS256_HEADER, `{"sub":{"id":1},"exp":${live()}}`, TEST_SECRET),
    };
    for (const [name, make] of Object.entries(garbage)) {
      it(`refuses ${name}`, async () => {
        await assertInvalidToken(app, make());
      });
    }

    it('refuses an empty token after "Bearer "', async () => {
      await assertInvalidToken(app, '');
    });

    it('refuses a non-bearer Authorization scheme as an invalid credential', async () => {
      const token = signToken();
      const response = await rawUpgrade(app.port, upgradeRequest('/chat', [['Authorization', `Basic ${token}`]]));
      assert.equal(response.status, 401);
      assert.equal(response.headers['www-authenticate'], INVALID_TOKEN_CHALLENGE);
      assert.ok(!response.raw.includes(token) && !app.logs.text().includes(token));
    });

    it('still serves honest clients after all of the above', () => assertOpens(app, signToken()));
  });

  describe('token length', () => {
    // Validly signed, so only the length check can be what refuses it.
    function signedOfLength(length: number): string {
      // Base64url turns 3 bytes into 4 characters; start a little short and grow byte by byte.
      const estimate = Math.floor((length * 3) / 4) - 200;
      for (let padding = estimate; padding < estimate + 200; padding += 1) {
        const token = signToken({ padding: 'x'.repeat(padding) });
        if (token.length === length) return token;
        if (token.length > length) break;
      }
      throw new Error(`could not build a token of exactly ${length} characters`);
    }

    it('refuses a 9000-character validly signed token, quickly', async () => {
      const token = signToken({ padding: 'x'.repeat(6600) });
      assert.ok(token.length > 8192 && token.length <= 9100, `length ${token.length}`);
      const started = performance.now();
      await assertInvalidToken(app, token);
      assert.ok(performance.now() - started < 1000, 'an oversized token must be refused without delay');
    });

    it('accepts exactly 8192 characters and refuses 8193 by default', async () => {
      await assertOpens(app, signedOfLength(8192));
      await assertInvalidToken(app, signedOfLength(8193));
    });

    it('refuses a normal valid token when maxTokenLength is 100', async () => {
      const token = signToken();
      assert.ok(token.length > 100);
      await assertInvalidToken(shortApp, token);
      await assertInvalidToken(shortApp, token, 'subprotocol');
    });
  });
});
