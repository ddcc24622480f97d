import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Module } from '@nestjs/common';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { getWsIdentity, getWsUser, WsAuthModule, WsRevocations, type WsJwtClaims } from '../../lib/index.js';
import type { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';
import { WsAuthConfig } from '../../lib/ws-auth.config.js';
import { hmacSignedToken } from '../support/forged-tokens.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { TEST_SECRET } from '../support/tokens.js';
import { openOrFail, request } from '../support/ws-client.js';

const MARKER = 'cache-claim-marker';
const b64 = (text: string) => Buffer.from(text).toString('base64url');
const exp = () => Math.floor(Date.now() / 1000) + 300;

function hmacToken(claims: object, hash = 'sha256'): string {
  return hmacSignedToken(JSON.stringify({ alg: 'HS256' }), JSON.stringify({ iat: exp() - 300, ...claims }), TEST_SECRET, hash);
}
const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1);

/** Whether the app's verifier answers this token from its cache: the attacks below are on a kept token. */
function isKept(app: TestApp, token: string): boolean {
  const { verifier } = app.app.get(WsAuthConfig, { strict: false }) as unknown as { verifier: { verifiedTokens: VerifiedTokenCache } };
  return verifier.verifiedTokens.get(token) !== undefined;
}
const withSignature = (token: string, signature: string) => `${token.slice(0, token.lastIndexOf('.'))}.${signature}`;

/** Subjects validate() turns away from now on: a user store that changed after a token was cached. */
const blocked = new Set<string>();

@WebSocketGateway({ path: '/attack' })
class AttackGateway {
  @SubscribeMessage('inspect')
  inspectClient(@ConnectedSocket() client: WebSocket) {
    const identity = getWsIdentity<{ sub: string }>(client);
    const copies: Record<string, object> = {
      created: Object.create(client) as object,
      proxied: new Proxy(client, {}),
      spread: { ...client },
    };
    return {
      event: 'inspect',
      data: {
        subject: identity?.subject,
        user: getWsUser<{ sub: string }>(client)?.sub,
        copies: Object.fromEntries(Object.entries(copies).map(([name, copy]) => [name, getWsIdentity(copy) !== undefined || getWsUser(copy) !== undefined])),
        shown: inspect(client, { showHidden: true, depth: 6, getters: false }),
        keys: Reflect.ownKeys(client).map(String),
      },
    };
  }
}

@Module({
  imports: [
    WsAuthModule.forRoot({
      jwt: { secret: TEST_SECRET },
      validate: (claims: WsJwtClaims) => (blocked.has(String(claims.sub)) ? false : { sub: claims.sub }),
    }),
  ],
  providers: [AttackGateway],
})
class AttackModule {}

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const P256_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

@Module({
  imports: [WsAuthModule.forRoot({ jwt: { publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string } })],
  providers: [AttackGateway],
})
class EcdsaModule {}

function es256Token(claims: object): string {
  const input = `${b64(JSON.stringify({ alg: 'ES256' }))}.${b64(JSON.stringify({ iat: exp() - 300, ...claims }))}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** The same ECDSA signature with s replaced by n - s: it verifies wherever the original does. */
function otherSpelling(token: string): string {
  const bytes = Buffer.from(signatureOf(token), 'base64url');
  const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
  const flipped = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return withSignature(token, Buffer.concat([bytes.subarray(0, 32), flipped]).toString('base64url'));
}

const upgrade = (app: TestApp, token: string) => rawUpgrade(app.port, upgradeRequest('/attack', [['Authorization', `Bearer ${token}`]]));

/** A refusal with this status and reason, and the token (or a segment of it) in neither the answer nor the log. */
function assertRefused(app: TestApp, response: RawResponse, status: number, reason: string, token: string, what: string) {
  assert.equal(response.status, status, `${what}: ${JSON.stringify(response.raw.slice(0, 80))}`);
  assert.equal(JSON.parse(response.body).reason, reason, what);
  for (const secret of [token, signatureOf(token), token.split('.')[1]].filter((part) => part.length > 0)) {
    assert.ok(!response.raw.includes(secret), `${what}: the answer carries the token`);
    assert.ok(!app.logs.text().includes(secret), `${what}: the log carries the token`);
  }
}

describe('attack: the cache of verified tokens over real upgrades', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(AttackModule);
  });
  after(() => app?.close());

  it('runs validate() on a cached token: a user blocked after the token was kept is refused on the next upgrade', async () => {
    const token = hmacToken({ sub: 'cache-blocked', exp: exp() });
    for (let i = 0; i < 4; i += 1) assert.equal((await upgrade(app, token)).status, 101, `open ${i}`);
    assert.ok(isKept(app, token));
    blocked.add('cache-blocked');
    try {
      for (let i = 0; i < 2; i += 1) assertRefused(app, await upgrade(app, token), 401, 'invalid_credential', token, `blocked ${i}`);
    } finally {
      blocked.delete('cache-blocked');
    }
    assert.equal((await upgrade(app, token)).status, 101, 'unblocked');
  });

  it('refuses a token revoked by jti after it was kept, and again after the revocation is a hit', async () => {
    const token = hmacToken({ sub: 'cache-revoked', jti: 'cache-jti', exp: exp() });
    for (let i = 0; i < 3; i += 1) assert.equal((await upgrade(app, token)).status, 101, `open ${i}`);
    assert.ok(isKept(app, token));
    await app.app.get(WsRevocations).revoke({ jti: 'cache-jti' });
    for (let i = 0; i < 2; i += 1) assertRefused(app, await upgrade(app, token), 401, 'credential_revoked', token, `revoked ${i}`);
  });

  it('refuses forgeries of a kept token (its tail on other claims, respelled signatures), and still admits the token itself', async () => {
    const claims = { sub: 'cache-victim', iat: exp() - 300, exp: exp() };
    const victim = hmacToken(claims);
    for (let i = 0; i < 3; i += 1) assert.equal((await upgrade(app, victim)).status, 101, `open ${i}`);
    assert.ok(isKept(app, victim));
    const sig = signatureOf(victim);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig.at(-1)!);
    const forgeries: Array<[string, string]> = [
      ['the tail on other claims', `${victim.split('.')[0]}.${b64(JSON.stringify({ ...claims, sub: 'cache-mallory', admin: true }))}.${sig}`],
      ['the tail under another header', `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${victim.split('.')[1]}.${sig}`],
      ['the last character in its padding bits (refused as non-canonical base64url)', withSignature(victim, sig.slice(0, -1) + alphabet[last ^ 1])],
      ['the last character changed', withSignature(victim, sig.slice(0, -1) + alphabet[(last + 4) % 64])],
      ['padded with = (refused by the token shape)', withSignature(victim, `${sig}=`)],
      ['a character appended', withSignature(victim, `${sig}A`)],
      [
        'in another case',
        withSignature(
          victim,
          sig.replace(/[a-z]/, (c) => c.toUpperCase()),
        ),
      ],
      ['in the standard alphabet (refused by the token shape)', withSignature(victim, `${sig.slice(0, -2)}+/`)],
      ['an HS384 MAC under the HS256 header', withSignature(victim, signatureOf(hmacToken(claims, 'sha384')))],
      ['an empty signature', withSignature(victim, '')],
    ];
    for (const [what, forged] of forgeries) {
      assert.notEqual(forged, victim, what);
      for (let i = 0; i < 3; i += 1) assertRefused(app, await upgrade(app, forged), 401, 'invalid_credential', forged, `${what} ${i}`);
    }
    assert.equal((await upgrade(app, victim)).status, 101, 'the victim after the forgeries');
    assert.ok(isKept(app, victim), 'no forgery took its place');
  });

  it('gives a handler the identity through its client, and nothing made from that client; inspect shows no token or claim', async () => {
    const token = hmacToken({ sub: 'cache-inspected', marker: MARKER, exp: exp() });
    const socket = await openOrFail(app.url('/attack'), { headers: { Authorization: `Bearer ${token}` } });
    try {
      const { data } = await request(socket, 'inspect');
      assert.equal(data.subject, 'cache-inspected');
      assert.equal(data.user, 'cache-inspected');
      assert.deepEqual(data.copies, { created: false, proxied: false, spread: false });
      for (const shown of [data.shown, JSON.stringify(data.keys)]) {
        assert.ok(!shown.includes(token) && !shown.includes(signatureOf(token)), 'inspect shows the token');
        assert.ok(!shown.includes(MARKER) && !shown.includes('cache-inspected'), 'inspect shows the claims');
      }
    } finally {
      socket.close();
    }
    assert.ok(!app.logs.text().includes(token));
  });
});

// ECDSA's (r, n - s) verifies wherever (r, s) does, and signers produce either, so both are
// admitted (see signature-spellings.spec.ts). What must hold is that they are one credential:
// revoking its jti refuses both spellings, cached or not.
describe('attack: the second spelling of an ES256 token over a real upgrade', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(EcdsaModule);
  });
  after(() => app?.close());

  it('admits (r, n - s) as the same credential, and a revocation of its jti refuses both spellings', async () => {
    const token = es256Token({ sub: 'cache-ecdsa', jti: 'cache-ecdsa-jti', exp: exp() });
    for (let i = 0; i < 3; i += 1) assert.equal((await upgrade(app, token)).status, 101, `the token as signed, ${i}`);
    const respelled = otherSpelling(token);
    assert.notEqual(respelled, token);
    assert.equal((await upgrade(app, respelled)).status, 101, 'the second spelling');
    await app.app.get(WsRevocations).revoke({ jti: 'cache-ecdsa-jti' });
    assertRefused(app, await upgrade(app, token), 401, 'credential_revoked', token, 'the cached spelling, revoked');
    assertRefused(app, await upgrade(app, respelled), 401, 'credential_revoked', respelled, 'the second spelling, revoked');
  });
});
