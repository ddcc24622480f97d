import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { sampleConfigFromEnv } from '../../sample/sample.config.js';
import { createTestPki, opensslAvailable, type TestPki } from '../support/certificates.js';
import { generateSigningKey, JwksServer, signWith } from '../support/jwks-server.js';
import { SAMPLE_TEST_SECRET, startSample, type RunningSample } from '../support/sample-app.js';
import { closed, openSocket, request, type Outcome } from '../support/ws-client.js';

const hasOpenssl = opensslAvailable();

const sampleToken = (sub: string, username: string, roles: string[]) => jwt.sign({ sub, username, roles }, SAMPLE_TEST_SECRET, { expiresIn: 300 });

async function whoami(outcome: Outcome): Promise<unknown> {
  assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
  if (outcome.kind !== 'open') return undefined;
  const reply = await request(outcome.socket, 'whoami');
  outcome.socket.close();
  return reply.data;
}

describe('sample: TLS_CERT, TLS_KEY and TLS_CA (HTTPS, WSS and client certificates)', { skip: !hasOpenssl }, () => {
  let pki: TestPki;
  let sample: RunningSample;
  const tls = (client?: { cert: Buffer; key: Buffer }) => ({ ca: pki.ca, ...client });

  before(async () => {
    pki = createTestPki();
    sample = await startSample({ tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca } });
  });
  after(async () => {
    await sample?.close();
    pki?.remove();
  });

  it('opens /chat over wss:// with a client certificate whose CN is a sample user', async () => {
    assert.deepEqual(await whoami(await openSocket(sample.ws('/chat'), { tls: tls(pki.alice) })), { username: 'alice', roles: ['user'] });
  });

  it('still accepts tokens over wss://, and refuses an untrusted certificate alone with 401', async () => {
    const headers = { Authorization: `Bearer ${sampleToken('2', 'admin', ['user', 'admin'])}` };
    assert.deepEqual(await whoami(await openSocket(sample.ws('/chat'), { headers, tls: tls() })), { username: 'admin', roles: ['user', 'admin'] });
    const outcome = await openSocket(sample.ws('/chat'), { tls: tls(pki.rogue) });
    assert.equal(outcome.kind === 'refused' && outcome.status, 401);
  });

  it('allows its own https:// origin and refuses the http:// one', async () => {
    const origin = `https://127.0.0.1:${sample.config.port}`;
    assert.equal((await openSocket(sample.ws('/chat'), { headers: { Origin: origin }, tls: tls(pki.alice) })).kind, 'open');
    const foreign = await openSocket(sample.ws('/chat'), { headers: { Origin: origin.replace('https', 'http') }, tls: tls(pki.alice) });
    assert.equal(foreign.kind === 'refused' && foreign.status, 403);
  });

  it('keeps /live in-band over wss://', async () => {
    const outcome = await openSocket(sample.ws('/live'), { tls: tls() });
    assert.equal(outcome.kind, 'open');
    if (outcome.kind !== 'open') return;
    const reply = await request(outcome.socket, 'authenticate', { token: sampleToken('1', 'alice', ['user']) }, 'authenticated');
    assert.equal(typeof reply.data.expiresAt, 'number');
    outcome.socket.close();
    await closed(outcome.socket);
  });
});

describe('sample: JWKS_URL', () => {
  const idp = new JwksServer();
  const key = generateSigningKey('ES256');
  let sample: RunningSample;

  before(async () => {
    idp.keys = [key];
    await idp.start();
    sample = await startSample({ jwksUrl: idp.url });
  });
  after(async () => {
    await sample?.close();
    await idp.stop();
  });

  it("takes the user and roles from the identity provider's token", async () => {
    const token = await signWith(key, { sub: 'idp-42', preferred_username: 'carol', username: undefined, roles: ['user', 'admin'] });
    const outcome = await openSocket(sample.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(outcome.kind, 'open', JSON.stringify(outcome));
    if (outcome.kind !== 'open') return;
    assert.deepEqual((await request(outcome.socket, 'whoami')).data, { username: 'carol', roles: ['user', 'admin'] });
    assert.equal((await request(outcome.socket, 'admin:stats')).data.connections, 1);
    outcome.socket.close();
  });

  it('refuses a token signed with JWT_SECRET, which no longer verifies sockets', async () => {
    const token = sampleToken('1', 'alice', ['user']);
    const outcome = await openSocket(sample.ws('/chat'), { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(outcome.kind === 'refused' && outcome.status, 401);
    assert.ok(!JSON.stringify(outcome).includes(token) && !sample.logs.text().includes(token));
  });
});

describe('sample: TLS env', () => {
  it('needs both TLS_CERT and TLS_KEY, and names a variable it cannot read without printing its value', () => {
    assert.throws(() => sampleConfigFromEnv({ TLS_CERT: '/nowhere.pem', JWT_SECRET: 'x' }), /both TLS_CERT and TLS_KEY/);
    assert.throws(() => sampleConfigFromEnv({ TLS_CA: '/nowhere.pem', JWT_SECRET: 'x' }), /both TLS_CERT and TLS_KEY/);
    assert.throws(
      () => sampleConfigFromEnv({ TLS_CERT: '/nowhere.pem', TLS_KEY: '/nowhere.key', JWT_SECRET: 'x' }),
      /TLS_CERT is neither PEM text nor a readable file/,
    );
    // A key pasted with quotes or a "Bag Attributes" header is not PEM text: it must not be printed.
    const mangled = '"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"';
    assert.throws(
      () => sampleConfigFromEnv({ TLS_CERT: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----', TLS_KEY: mangled, JWT_SECRET: 'x' }),
      (error: Error) => error.message.startsWith('TLS_KEY is neither') && !error.message.includes('MIGHAgEA'),
    );
  });
});
