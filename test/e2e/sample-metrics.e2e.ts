import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { SAMPLE_TEST_SECRET, startSample, type RunningSample } from '../support/sample-app.js';
import { eventually, openWitnessed, type SocketWitness } from '../support/socket-witness.js';
import { openSocket, request } from '../support/ws-client.js';

/** One sample line of the Prometheus text format: `name{label="value",...} value`. */
interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"`;
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: -?\\d+)?$`);
const COMMENT_LINE = new RegExp(`^# (?:(?:HELP|UNIT) ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped)|[^A-Z].*)$`);

/** Parses a scrape, failing on any line that is not Prometheus text format. */
function parsePrometheus(body: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of body.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      assert.match(line, COMMENT_LINE);
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    assert.ok(!Number.isNaN(value) || match[3] === 'NaN', `not a sample value: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    }
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** The sum of `name`'s samples whose labels include every one of `labels`. */
function valueOf(samples: PrometheusSample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const chat = { ws_auth_gateway: '/chat' };
const live = { ws_auth_gateway: '/live' };

describe('sample GET /metrics', { timeout: 30_000 }, () => {
  let sample: RunningSample;
  let body: string;
  let contentType: string | null;
  let status: number;
  let samples: PrometheusSample[];
  /** Every credential, name, subject, session and address this test handled. */
  const secrets: string[] = [];

  const scrape = async () => {
    const response = await fetch(sample.http('/metrics'));
    return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
  };

  before(async () => {
    sample = await startSample();
    const aliceToken = await sample.login('alice');
    const adminToken = await sample.login('admin');
    const adminRefreshed = await sample.login('admin');
    const badSignature = `${aliceToken.slice(0, -6)}AAAAAA`;
    secrets.push(aliceToken, adminToken, adminRefreshed, badSignature);
    for (const token of [aliceToken, adminToken, adminRefreshed]) {
      const { sub, sid, jti } = jwt.verify(token, SAMPLE_TEST_SECRET) as jwt.JwtPayload;
      secrets.push(sub!, sid, jti!);
    }

    // Accepted at the upgrade: three by header, one by cookie, one by ticket; one in-band.
    const alice = await openWitnessed(sample.ws('/chat'), bearer(aliceToken));
    const admin = await openWitnessed(sample.ws('/chat'), bearer(adminToken));
    const aliceByCookie = await openWitnessed(sample.ws('/chat'), { headers: { Cookie: `access_token=${aliceToken}`, Origin: sample.origin } });
    const ticket = (await sample.post('/auth/ws-ticket', { headers: bearer(aliceToken).headers })).json().ticket as string;
    secrets.push(ticket);
    const aliceByTicket = await openWitnessed(sample.ws(`/chat?ticket=${encodeURIComponent(ticket)}`), { headers: { Origin: sample.origin } });
    const aliceLive = await openWitnessed(sample.ws('/live'));
    await aliceLive.authenticate(aliceToken);
    // One in-band socket left waiting: a pending authentication at the scrape.
    const waiting = await openWitnessed(sample.ws('/live'));

    // Refused at the upgrade: no credential, a bad signature, another origin.
    for (const [headers, expected] of [
      [{}, 401],
      [{ Authorization: `Bearer ${badSignature}` }, 401],
      [{ Cookie: `access_token=${aliceToken}`, Origin: 'http://127.0.0.1:1' }, 403],
    ] as const) {
      const outcome = await openSocket(sample.ws('/chat'), { headers });
      assert.equal(outcome.kind === 'refused' && outcome.status, expected);
    }

    // A refresh over the admin's socket, then the kick of alice: four sockets closed, 4403 Kicked.
    await admin.authenticate(adminRefreshed);
    assert.equal((await request(admin.socket, 'admin:kick', { username: 'alice' })).data.disconnected, 4);
    for (const kicked of [alice, aliceByCookie, aliceByTicket, aliceLive]) assert.deepEqual(await closeOf(kicked), { code: 4403, reason: 'Kicked' });
    // Her token now opens nothing.
    const afterKick = await openSocket(sample.ws('/chat'), bearer(aliceToken));
    assert.equal(afterKick.kind, 'refused');

    // The server sees the kicked sockets go a moment after their clients do.
    await eventually(async () => valueOf(parsePrometheus((await scrape()).body), 'ws_auth_connections_active', chat) === 1, 2000, 'one open socket on /chat');
    ({ status, contentType, body } = await scrape());
    samples = parsePrometheus(body);
    admin.socket.close();
    waiting.socket.close();
  });
  after(() => sample.close());

  it('answers 200 with the Prometheus text format', () => {
    assert.equal(status, 200);
    assert.match(contentType ?? '', /^text\/plain\b/);
    assert.ok(samples.length > 0);
    assert.match(body, /^# HELP ws_auth_upgrade_attempts_total /m);
    assert.match(body, /^# TYPE ws_auth_upgrade_attempts_total counter$/m);
    assert.match(body, /^# TYPE ws_auth_upgrade_duration histogram$/m);
  });

  it('counts accepted upgrades by gateway and credential source', () => {
    const accepted = { ws_auth_result: 'accepted' };
    assert.equal(valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...chat, ...accepted, ws_auth_credential_source: 'header' }), 2);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...chat, ...accepted, ws_auth_credential_source: 'cookie' }), 1);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...chat, ...accepted, ws_auth_credential_source: 'ticket' }), 1);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...live, ...accepted, ws_auth_credential_source: 'in_band' }), 2);
  });

  it('counts refused upgrades by reason', () => {
    const refused = (reason: string) =>
      valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...chat, ws_auth_result: 'refused', ws_auth_refusal_reason: reason });
    assert.equal(refused('missing_credential'), 1);
    assert.equal(refused('invalid_credential'), 1);
    assert.equal(refused('origin_not_allowed'), 1);
    // Alice's token after the kick: a revoked credential presented again.
    assert.equal(refused('credential_revoked'), 1);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_attempts_total', { ...chat, ws_auth_result: 'refused' }), 4);
  });

  it('times every upgrade', () => {
    const attempts = valueOf(samples, 'ws_auth_upgrade_attempts_total', chat);
    assert.equal(attempts, 8);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_duration_count', chat), attempts);
    assert.equal(valueOf(samples, 'ws_auth_upgrade_duration_bucket', { ...chat, le: '+Inf' }), attempts);
  });

  it('shows open connections, pending authentications, refreshes, tickets, the revocation and the kicked sockets', () => {
    assert.equal(valueOf(samples, 'ws_auth_connections_active', chat), 1);
    assert.equal(valueOf(samples, 'ws_auth_connections_active', live), 0);
    assert.equal(valueOf(samples, 'ws_auth_authentications_pending', live), 1);
    assert.equal(valueOf(samples, 'ws_auth_refreshes_total', { ...chat, ws_auth_result: 'accepted' }), 1);
    assert.equal(valueOf(samples, 'ws_auth_tickets_total', { ws_auth_ticket_operation: 'issue', ws_auth_result: 'accepted' }), 1);
    assert.equal(valueOf(samples, 'ws_auth_tickets_total', { ws_auth_ticket_operation: 'redeem', ws_auth_result: 'accepted' }), 1);
    assert.equal(valueOf(samples, 'ws_auth_revocations_total', { ws_auth_revocation_kind: 'subject', ws_auth_revocation_origin: 'local' }), 1);
    const kicked = { ws_auth_close_code: '4403', ws_auth_close_reason: 'revoked' };
    assert.equal(valueOf(samples, 'ws_auth_connections_closed_total', { ...chat, ...kicked }), 3);
    assert.equal(valueOf(samples, 'ws_auth_connections_closed_total', { ...live, ...kicked }), 1);
    assert.equal(valueOf(samples, 'ws_auth_dependency_failures_total'), 0);
  });

  it('names no token, ticket, user, subject, session or address', () => {
    for (const secret of secrets.filter((secret) => secret.length > 8)) assert.ok(!body.includes(secret), 'a credential or an identifier appeared in /metrics');
    for (const name of ['alice', 'admin', '127.0.0.1', '::1', 'ffff:']) assert.ok(!body.includes(name), `${name} appeared in /metrics`);
    // The sample's subjects are '1' and '2': only a label value equal to one would name them
    // (a histogram's `le="1"` is a bucket bound).
    const subjects = secrets.filter((secret) => secret.length <= 8);
    assert.deepEqual(subjects, ['1', '2', '2']);
    for (const sample of samples) {
      for (const [key, value] of Object.entries(sample.labels)) {
        assert.doesNotMatch(key, /user|subject|address|peer|token|jti|session/i);
        if (key !== 'le') assert.ok(!subjects.includes(value), `${key}="${value}" may name a subject`);
      }
    }
  });
});

async function closeOf(witness: SocketWitness): Promise<{ code: number; reason: string }> {
  const { code, reason } = await witness.closed;
  return { code, reason };
}
