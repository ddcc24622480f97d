import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import type { WsAuthOptions } from '../../lib/index.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { generateSigningKey, JwksServer, signWith } from '../support/jwks-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { openSocket, request, type Outcome } from '../support/ws-client.js';

const COOLDOWN_MS = 2000;

function jwksOptions(idp: JwksServer, jwks: NonNullable<WsAuthOptions['jwt']>['jwks']): WsAuthOptions {
  return { jwt: { jwksUri: idp.url, algorithms: ['RS256', 'ES256', 'EdDSA'], jwks } };
}

async function connect(app: TestApp, token: string): Promise<Outcome> {
  return openSocket(app.url('/jwks'), { headers: { Authorization: `Bearer ${token}` } });
}

async function assertAccepted(app: TestApp, token: string, username = 'alice'): Promise<void> {
  const outcome = await connect(app, token);
  assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
  if (outcome.kind !== 'open') return;
  assert.equal((await request(outcome.socket, 'whoami')).data.username, username);
  outcome.socket.close();
}

async function assertRefusedWith(app: TestApp, token: string, status: number, reason: string): Promise<void> {
  const outcome = await connect(app, token);
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.status, status);
  assert.equal(JSON.parse(outcome.body).reason, reason);
  assert.ok(!outcome.body.includes(token) && !JSON.stringify(outcome.headers).includes(token));
  assert.ok(!app.logs.text().includes(token), 'the log must not contain the token');
}

describe('JWKS verification (jwt.jwksUri)', () => {
  const idp = new JwksServer();
  const rsa = generateSigningKey('RS256');
  const ec = generateSigningKey('ES256');
  const ed = generateSigningKey('EdDSA');
  const unpublished = generateSigningKey('RS256', rsa.kid);
  let app: TestApp;

  before(async () => {
    idp.keys = [rsa, ec, ed];
    await idp.start();
    app = await startTestApp(appModule([makeGateway('Jwks', 0, { path: '/jwks' })], jwksOptions(idp, { cooldownMs: COOLDOWN_MS })));
  });
  after(async () => {
    await app.close();
    await idp.stop();
  });

  it('fetches the key set once, at startup', () => {
    assert.equal(idp.fetches(), 1);
  });

  for (const [name, key] of [
    ['RS256', rsa],
    ['ES256', ec],
    ['EdDSA', ed],
  ] as const) {
    it(`accepts a ${name} token signed by a published key, from the cache`, async () => {
      await assertAccepted(app, await signWith(key));
      assert.equal(idp.fetches(), 1);
    });
  }

  it('fetches a rotated-in kid once, however many handshakes carry it at the same time', async () => {
    await sleep(COOLDOWN_MS + 100);
    const rotated = generateSigningKey('ES256');
    idp.keys = [rotated, ...idp.keys];
    const before = idp.fetches();
    const token = await signWith(rotated, { username: 'rotated' });
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => connect(app, token)));
    assert.deepEqual(
      outcomes.map((outcome) => outcome.kind),
      Array(20).fill('open'),
    );
    for (const outcome of outcomes) if (outcome.kind === 'open') outcome.socket.close();
    assert.equal(idp.fetches(), before + 1);
  });

  it('refuses made-up kids with 401 and no fetch during the cooldown', async () => {
    const before = idp.fetches();
    const stranger = generateSigningKey('RS256');
    const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => signWith(stranger, {}, { kid: `made-up-${i}` })));
    const outcomes = await Promise.all(tokens.map((token) => connect(app, token)));
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.kind === 'refused' ? outcome.status : outcome.kind)),
      Array(40).fill(401),
    );
    assert.equal(idp.fetches(), before);
  });

  it('never fetches what kid, jku or x5u point to', async () => {
    const tokens = [
      await signWith(unpublished, {}, { jku: idp.trap('/jku'), x5u: idp.trap('/x5u') }),
      await signWith(unpublished, {}, { kid: idp.trap('/kid') }),
      await signWith(unpublished, {}, { kid: '../../../../etc/passwd' }),
    ];
    for (const token of tokens) await assertRefusedWith(app, token, 401, 'invalid_credential');
    await sleep(COOLDOWN_MS + 100);
    // Past the cooldown an unknown kid may refresh the key set, and still nothing else.
    await assertRefusedWith(app, await signWith(unpublished, {}, { kid: idp.trap('/kid'), jku: idp.trap('/jku') }), 401, 'invalid_credential');
    assert.deepEqual([idp.fetches('/jku'), idp.fetches('/x5u'), idp.fetches('/kid'), idp.fetches('/etc/passwd')], [0, 0, 0, 0]);
  });

  it('refuses a token signed by another key under a published kid', async () => {
    await assertRefusedWith(app, await signWith(unpublished), 401, 'invalid_credential');
  });

  it('refuses HS256 made with the public key as its secret (algorithm confusion)', async () => {
    const publicPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
    const confused = jwt.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 }, publicPem, { algorithm: 'HS256', keyid: rsa.kid });
    await assertRefusedWith(app, confused, 401, 'invalid_credential');
  });

  it('refuses a token without exp, an expired one, and an algorithm that is not pinned', async () => {
    await assertRefusedWith(app, await signWith(rsa, {}, {}, { expiresIn: null }), 401, 'invalid_credential');
    await assertRefusedWith(app, await signWith(rsa, { exp: Math.floor(Date.now() / 1000) - 10 }), 401, 'invalid_credential');
    const ps = { ...rsa, alg: 'PS256' as never };
    await assertRefusedWith(app, await signWith(ps, {}, { alg: 'PS256' }), 401, 'invalid_credential');
  });
});

describe('JWKS outages', () => {
  const idp = new JwksServer();
  const key = generateSigningKey('RS256');
  let app: TestApp;

  before(async () => {
    idp.keys = [key];
    await idp.start();
    app = await startTestApp(appModule([makeGateway('Jwks', 0, { path: '/jwks' })], jwksOptions(idp, { cacheMaxAgeMs: 300, cooldownMs: 100, timeoutMs: 300 })));
  });
  after(async () => {
    await app.close();
    await idp.stop();
  });

  it('refuses with 503 while the key set cannot be fetched, logs it once, and recovers', async () => {
    const token = await signWith(key);
    await assertAccepted(app, token);
    idp.mode = 'fail';
    await sleep(400);
    for (let i = 0; i < 3; i++) await assertRefusedWith(app, token, 503, 'unavailable');
    assert.equal(app.logs.lines.filter((line) => line.includes('could not be used')).length, 1);
    idp.mode = 'serve';
    await assertAccepted(app, token);
    assert.match(app.logs.text(), /reachable again/);
  });

  it('refuses with 503 when the key server hangs past the fetch timeout', async () => {
    const token = await signWith(key);
    idp.mode = 'hang';
    await sleep(400);
    const started = Date.now();
    await assertRefusedWith(app, token, 503, 'unavailable');
    assert.ok(Date.now() - started < 3000, 'the fetch timeout, not the client, ends the wait');
    idp.mode = 'serve';
    await assertAccepted(app, token);
  });

  it('starts while the key server is down, refuses with 503, and accepts once it is back', async () => {
    const down = new JwksServer();
    down.keys = [key];
    await down.start();
    const url = down.url;
    await down.stop();
    const late = await startTestApp(appModule([makeGateway('Late', 0, { path: '/jwks' })], { jwt: { jwksUri: url, jwks: { cooldownMs: 100 } } }));
    try {
      const token = await signWith(key);
      await assertRefusedWith(late, token, 503, 'unavailable');
      await down.start();
      await assertAccepted(late, token);
    } finally {
      await late.close();
      await down.stop();
    }
  });
});
