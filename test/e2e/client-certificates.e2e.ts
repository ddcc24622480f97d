import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WsAuthOptions, WsCertificateValidateFn } from '../../lib/index.js';
import { base64Der, createTestPki, opensslAvailable, escapedPem, type KeyPair, type TestPki } from '../support/certificates.js';
import { appModule, makeGateway } from '../support/fixtures.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { openSocket, request, type Outcome } from '../support/ws-client.js';

const hasOpenssl = opensslAvailable();

const USERS: Record<string, { username: string; roles: string[] }> = { alice: { username: 'alice', roles: ['user'] } };

/** The app's mapping: the certificate's CN names a user, or nobody (401). */
const byCommonName: WsCertificateValidateFn = (certificate) => {
  const commonName = /^CN=(.+)$/m.exec(certificate.subject)?.[1];
  const user = commonName ? USERS[commonName] : undefined;
  return user ? { user, subject: `cert:${commonName}`, roles: user.roles } : null;
};

async function assertOpenAs(outcome: Outcome, username: string, source: string): Promise<void> {
  assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
  if (outcome.kind !== 'open') return;
  const reply = await request(outcome.socket, 'whoami');
  assert.equal(reply.data.username, username);
  assert.equal(reply.data.source, source);
  outcome.socket.close();
}

function assertRefusedWith(outcome: Outcome, status: number, reason: string): void {
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.status, status);
  assert.equal(JSON.parse(outcome.body).reason, reason);
}

describe('client certificates over wss:// (mutual TLS)', { skip: !hasOpenssl }, () => {
  let pki: TestPki;
  let app: TestApp;
  const connect = (path: string, client?: KeyPair, headers?: Record<string, string>) =>
    openSocket(app.url(path), { headers, tls: { ca: pki.ca, ...(client && { cert: client.cert, key: client.key }) } });

  before(async () => {
    pki = createTestPki();
    const options: WsAuthOptions = { jwt: { secret: TEST_SECRET }, clientCertificate: { validate: byCommonName } };
    app = await startTestApp(
      appModule(
        [
          makeGateway('CertOnly', 0, { path: '/cert-only', wsAuth: { credentials: ['certificate'] } }),
          makeGateway('CertOrToken', 0, { path: '/cert-or-token', wsAuth: { credentials: ['certificate', 'header'] } }),
          makeGateway('Defaults', 0, { path: '/defaults' }),
        ],
        options,
      ),
      // The TLS layer asks for a certificate but lets the upgrade decide, so a client without
      // one gets a real 401 (or another credential source) rather than a failed TLS handshake.
      { httpsOptions: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca, requestCert: true, rejectUnauthorized: false } },
    );
  });
  after(async () => {
    await app?.close();
    pki?.remove();
  });

  it('accepts a certificate issued by the trusted CA, as the user it maps to', async () => {
    await assertOpenAs(await connect('/cert-only', pki.alice), 'alice', 'certificate');
  });

  it('puts certificate first in the default credentials when clientCertificate is set', async () => {
    await assertOpenAs(await connect('/defaults', pki.alice), 'alice', 'certificate');
    await assertOpenAs(await connect('/defaults', undefined, { Authorization: `Bearer ${signToken({ username: 'bob' })}` }), 'bob', 'header');
  });

  it('refuses with 401 when there is no certificate', async () => {
    assertRefusedWith(await connect('/cert-only'), 401, 'missing_credential');
  });

  it('refuses with 401 a certificate from an untrusted CA, even with the right CN', async () => {
    assertRefusedWith(await connect('/cert-only', pki.rogue), 401, 'missing_credential');
  });

  it('goes on to the next source when the certificate is untrusted and the gateway allows tokens', async () => {
    const token = signToken({ username: 'bob' });
    await assertOpenAs(await connect('/cert-or-token', pki.rogue, { Authorization: `Bearer ${token}` }), 'bob', 'header');
    assertRefusedWith(await connect('/cert-or-token', pki.rogue), 401, 'missing_credential');
  });

  it('refuses with 401 a trusted certificate that maps to no user, with no fallback to a token', async () => {
    const token = signToken({ username: 'bob' });
    assertRefusedWith(await connect('/cert-or-token', pki.stranger, { Authorization: `Bearer ${token}` }), 401, 'invalid_credential');
    assert.ok(!app.logs.text().includes(token));
  });
});

describe('client certificates forwarded by a TLS-terminating proxy', { skip: !hasOpenssl }, () => {
  let pki: TestPki;
  let trusting: TestApp;
  let distrusting: TestApp;
  const gateway = () => makeGateway('Proxied', 0, { path: '/proxied', wsAuth: { credentials: ['certificate', 'header'] } });
  const forwarded = (app: TestApp, value: string, extra: Record<string, string> = {}) =>
    openSocket(app.url('/proxied'), { headers: { 'X-Client-Cert': value, ...extra } });

  before(async () => {
    pki = createTestPki();
    const proxied = (trustedProxies: string[]): WsAuthOptions => ({
      jwt: { secret: TEST_SECRET },
      clientCertificate: { validate: byCommonName, proxyHeader: 'X-Client-Cert', trustedProxies, proxyCa: pki.ca },
    });
    // The test client connects from loopback, so it plays the proxy for the first app only.
    trusting = await startTestApp(
      appModule(
        [gateway(), makeRecordingGateway('Recording', { path: '/recording', wsAuth: { credentials: ['certificate'] } })],
        proxied(['127.0.0.0/8', '::1']),
      ),
    );
    distrusting = await startTestApp(appModule([gateway()], proxied(['10.9.9.9'])));
  });
  after(async () => {
    await trusting?.close();
    await distrusting?.close();
    pki?.remove();
  });

  it('accepts a certificate forwarded as URL-encoded PEM or as base64 DER by a trusted proxy', async () => {
    await assertOpenAs(await forwarded(trusting, escapedPem(pki.alice.cert)), 'alice', 'certificate');
    await assertOpenAs(await forwarded(trusting, base64Der(pki.alice.cert)), 'alice', 'certificate');
  });

  it('expires the identity with the certificate', async () => {
    const outcome = await openSocket(trusting.url('/recording'), { headers: { 'X-Client-Cert': escapedPem(pki.alice.cert) } });
    assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
    if (outcome.kind !== 'open') return;
    const reply = await request(outcome.socket, 'whoami');
    assert.equal(reply.data.expiresAt, Date.parse(new X509Certificate(pki.alice.cert).validTo));
    assert.equal(reply.data.subject, 'cert:alice');
    outcome.socket.close();
  });

  it('refuses a forwarded certificate from another CA, an expired one, and garbage, with 401', async () => {
    for (const value of [escapedPem(pki.rogue.cert), escapedPem(pki.expired.cert), 'not-a-certificate', '%E0%A4%A']) {
      assertRefusedWith(await forwarded(trusting, value), 401, 'invalid_credential');
    }
  });

  it('goes on to the next source when the proxy forwards no certificate (an empty header)', async () => {
    const token = signToken({ username: 'bob' });
    await assertOpenAs(await forwarded(trusting, '', { Authorization: `Bearer ${token}` }), 'bob', 'header');
  });

  it('ignores the header from an address that is not a trusted proxy', async () => {
    assertRefusedWith(await forwarded(distrusting, escapedPem(pki.alice.cert)), 401, 'missing_credential');
    const token = signToken({ username: 'bob' });
    await assertOpenAs(await forwarded(distrusting, escapedPem(pki.alice.cert), { Authorization: `Bearer ${token}` }), 'bob', 'header');
  });
});
