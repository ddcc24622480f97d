import assert from 'node:assert/strict';
import { createHmac, createPublicKey, createSecretKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { JwtService } from '@nestjs/jwt';
import { WsRevocations } from '../../lib/index.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { hmacSignedToken, pemKeyPair } from '../support/forged-tokens.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { nowSeconds, signToken, TEST_SECRET } from '../support/tokens.js';

const rsa = pemKeyPair('rsa');
const upgrade = (app: TestApp, token: string) => rawUpgrade(app.port, upgradeRequest('/chat', [['Authorization', `Bearer ${token}`]]));

function assertReason(response: RawResponse, reason: string, what: string) {
  assert.equal(response.status, 401, `${what}: ${JSON.stringify(response.raw.slice(0, 80))}`);
  assert.equal(JSON.parse(response.body).reason, reason, what);
}

describe('the static-key verifier and its cache over real upgrades', () => {
  let app: TestApp;
  let pinned: TestApp;
  let rsaApp: TestApp;

  before(async () => {
    const boot = (jwtOptions: object) => startTestApp(appModule([makeGateway('Speed', 0, { path: '/chat' })], { jwt: jwtOptions }));
    [app, pinned, rsaApp] = await Promise.all([
      boot({ secret: TEST_SECRET }),
      boot({ secret: TEST_SECRET, issuer: 'https://id.example.test', audience: ['chat', /^chat-(eu|us)$/] }),
      boot({ publicKey: rsa.publicKey }),
    ]);
  });
  after(() => Promise.all([app, pinned, rsaApp].map((each) => each?.close())));

  it('refuses a cached token revoked by jti, and by subject: revocation runs after the cache', async () => {
    const token = signToken({ sub: 'speed-1', jti: 'speed-jti-1' });
    for (let i = 0; i < 3; i += 1) assert.equal((await upgrade(app, token)).status, 101, `open ${i}`);
    await app.app.get(WsRevocations).revoke({ jti: 'speed-jti-1' });
    assertReason(await upgrade(app, token), 'credential_revoked', 'revoked by jti');
    await app.app.get(WsRevocations).unrevoke({ jti: 'speed-jti-1' });
    assert.equal((await upgrade(app, token)).status, 101, 'unrevoked');
    await app.app.get(WsRevocations).revoke({ subject: 'speed-1' });
    assertReason(await upgrade(app, token), 'credential_revoked', 'revoked by subject');
  });

  it('refuses a cached token once expired', async () => {
    const exp = nowSeconds() + 2;
    const token = hmacSignedToken('{"alg":"HS256"}', JSON.stringify({ sub: 'speed-2', iat: exp - 2, exp }), TEST_SECRET);
    assert.equal((await upgrade(app, token)).status, 101);
    assert.equal((await upgrade(app, token)).status, 101);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 5));
    assertReason(await upgrade(app, token), 'invalid_credential', 'expired after caching');
  });

  it('refuses the ported negatives: a respelled signature, exp equal to now, a missing or wrong aud, iss, and HS256 with the public key', async () => {
    const [h, p, s] = signToken().split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = `${h}.${p}.${s.slice(0, -1)}${alphabet[(alphabet.indexOf(s.at(-1)!) + 1) % 64]}`;
    assertReason(await upgrade(app, respelled), 'invalid_credential', 'respelled signature');
    assertReason(
      await upgrade(app, hmacSignedToken('{"alg":"HS256"}', `{"sub":"1","iat":${nowSeconds() - 1},"exp":${nowSeconds()}}`, TEST_SECRET)),
      'invalid_credential',
      'exp now',
    );
    const live = nowSeconds() + 300;
    const iss = 'https://id.example.test';
    const sign = (claims: object) => hmacSignedToken('{"alg":"HS256"}', JSON.stringify({ sub: '1', exp: live, iat: live - 300, ...claims }), TEST_SECRET);
    assert.equal((await upgrade(pinned, sign({ iss, aud: ['other', 'chat-eu'] }))).status, 101, 'aud array with a RegExp match');
    for (const [what, claims] of [
      ['no aud', { iss }],
      ['no iss', { aud: 'chat' }],
      ['aud array without a match', { iss, aud: ['other', 'chat-asia'] }],
      ['iss with a trailing slash', { iss: `${iss}/`, aud: 'chat' }],
    ] as const) {
      assertReason(await upgrade(pinned, sign(claims)), 'invalid_credential', what);
    }
    const confused = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(`{"sub":"1","exp":${live}}`).toString('base64url')}`;
    const forged = `${confused}.${createHmac('sha256', rsa.publicKey).update(confused).digest('base64url')}`;
    assertReason(await upgrade(rsaApp, forged), 'invalid_credential', 'HS256 with the public key');
  });
});

/** CPU microseconds per call, the best of a few rounds (the least disturbed by neighbours). */
function cpuMicros(calls: number, run: (i: number) => unknown): number {
  let best = Infinity;
  for (let round = 0; round < 5; round += 1) {
    const started = process.cpuUsage();
    for (let i = 0; i < calls; i += 1) run(i);
    const used = process.cpuUsage(started);
    best = Math.min(best, (used.user + used.system) / calls);
  }
  return best;
}

describe('per-verification CPU, measured and reported, never asserted', () => {
  it('compares JwtService (jsonwebtoken) with the verifier, fresh and cached', (t) => {
    const rows: string[] = [];
    for (const [alg, count, signingKey, options] of [
      ['HS256', 4000, TEST_SECRET, { secret: TEST_SECRET }],
      ['RS256', 400, rsa.privateKey, { publicKey: rsa.publicKey }],
    ] as const) {
      // Distinct tokens, so neither side can answer from a cache; signing is not measured.
      const tokens = Array.from({ length: count }, (_, i) => signToken({ jti: `m${i}` }, { algorithm: alg }, signingKey));
      const key = alg === 'HS256' ? createSecretKey(Buffer.from(TEST_SECRET)) : createPublicKey(rsa.publicKey);
      const jwtService = new JwtService({ secret: key as never, verifyOptions: { algorithms: [alg] } });
      const fresh = new JwtVerifier(options, 0);
      const cached = new JwtVerifier(options);
      // A token is kept from its second full verification on.
      for (const token of tokens) {
        cached.verify(token);
        cached.verify(token);
      }
      const old = cpuMicros(count, (i) => jwtService.verify(tokens[i]));
      const now = cpuMicros(count, (i) => fresh.verify(tokens[i]));
      const hit = cpuMicros(count, (i) => cached.verify(tokens[i]));
      rows.push(`${alg}: JwtService ${old.toFixed(1)} us, verifier ${now.toFixed(1)} us (${(old / now).toFixed(2)}x), cache hit ${hit.toFixed(1)} us`);
    }
    for (const row of rows) t.diagnostic(row);
  });
});
