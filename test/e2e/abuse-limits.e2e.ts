import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import WebSocket from 'ws';
import { closedWithin, within } from '../support/close-deadline.js';
import { appModule } from '../support/fixtures.js';
import { RawWebSocket } from '../support/raw-frames.js';
import { rawUpgrade, upgradeRequest, type RawResponse } from '../support/raw-upgrade.js';
import { dispatchesOf, makeRecordingGateway } from '../support/recording-gateway.js';
import { eventually, openWitnessed, sleep, SocketWitness } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

const KIB = 1024;
const MIB = 1024 * KIB;
// Linux routes all of 127/8 to lo, so a second client address needs no setup.
const OTHER_ADDRESS = '127.0.0.2';
const TOO_MANY = { error: 'too_many_requests', reason: 'too_many_requests' };

type Attempt =
  | { kind: 'open'; witness: SocketWitness }
  | { kind: 'refused'; status: number; body: string; headers: Record<string, unknown> }
  | { kind: 'error'; message: string };

/** Opens a ws client from `localAddress`, watched from its first byte. */
function attemptFrom(url: string, localAddress = '127.0.0.1'): Promise<Attempt> {
  const witness = new SocketWitness(new WebSocket(url, [], { localAddress }));
  return new Promise((resolve) => {
    witness.socket.once('open', () => resolve({ kind: 'open', witness }));
    witness.socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, body, headers: response.headers }));
    });
    witness.socket.once('error', (error) => resolve({ kind: 'error', message: error.message }));
  });
}

async function openFrom(url: string, localAddress?: string): Promise<SocketWitness> {
  const attempt = await attemptFrom(url, localAddress);
  if (attempt.kind !== 'open') throw new Error(`expected an open socket from ${localAddress ?? '127.0.0.1'}, got ${JSON.stringify(attempt)}`);
  return attempt.witness;
}

/** The per-address refusal, read byte for byte from a raw upgrade (which comes from 127.0.0.1). */
function assertTooManyRequests(response: RawResponse) {
  assert.equal(response.status, 429, response.raw.slice(0, 300));
  assert.deepEqual(JSON.parse(response.body), TOO_MANY);
  assert.match(response.headers['retry-after'] ?? '', /^\d+$/, 'Retry-After in whole seconds');
  assert.equal(response.headers['www-authenticate'], undefined);
}

/** A slot frees when the server's side of a socket closes, a moment after the client's. */
async function openedSoon(url: string, localAddress?: string): Promise<SocketWitness> {
  let opened: SocketWitness | undefined;
  await eventually(
    async () => {
      const attempt = await attemptFrom(url, localAddress);
      if (attempt.kind === 'open') opened = attempt.witness;
      return opened !== undefined;
    },
    2000,
    'a freed slot',
  );
  return opened!;
}

async function closeAll(sockets: SocketWitness[]) {
  await Promise.all(sockets.map((socket) => socket.close()));
}

// A socket the server wrongly keeps open must fail its test, not hang the run.
describe('one client cannot deny service to others', { timeout: 50_000 }, () => {
  describe('pending in-band sockets per remote address', () => {
    let app: TestApp;
    let small: TestApp;
    const secrets: string[] = [];
    before(async () => {
      small = await startTestApp(
        appModule([makeRecordingGateway('AlSmallLive', { path: '/live', wsAuth: { mode: 'in-band' } })], {
          jwt: { secret: TEST_SECRET },
          maxPendingAuthenticationsPerAddress: 2,
          maxPendingAuthentications: 3,
        }),
      );
      app = await startTestApp(
        appModule([makeRecordingGateway('AlLive', { path: '/live', wsAuth: { mode: 'in-band' } }), makeRecordingGateway('AlChat', { path: '/chat' })], {
          jwt: { secret: TEST_SECRET },
        }),
      );
    });
    after(async () => {
      await app.close();
      await small.close();
    });

    const token = (sub: string) => {
      const signed = signToken({ sub, username: sub });
      secrets.push(signed);
      return signed;
    };

    it('answers 429 with Retry-After to the 33rd pending socket of one address by default, while another address still connects', async () => {
      const waiting = await Promise.all(Array.from({ length: 32 }, () => openFrom(app.url('/live'))));
      const others: SocketWitness[] = [];
      try {
        assertTooManyRequests(await rawUpgrade(app.port, upgradeRequest('/live')));
        const refused = await attemptFrom(app.url('/live'));
        assert.equal(refused.kind === 'refused' && refused.status, 429, JSON.stringify(refused));

        // Another address is not held back by the first one's sockets.
        const other = await openFrom(app.url('/live'), OTHER_ADDRESS);
        others.push(other);
        await other.authenticate(token('al-other'));
        assert.equal((await other.request('whoami')).data.subject, 'al-other');
        // A handshake gateway takes nothing from the pending budget, even from the same address.
        const chat = await openWitnessed(app.url('/chat'), { headers: { Authorization: `Bearer ${token('al-chat')}` } });
        others.push(chat);
        assert.equal((await chat.request('whoami')).data.subject, 'al-chat');

        // The waiting sockets are unharmed by the refusals.
        await waiting[0].authenticate(token('al-first'));
        const afterAuth = await openedSoon(app.url('/live'));
        others.push(afterAuth);
        assertTooManyRequests(await rawUpgrade(app.port, upgradeRequest('/live')));

        await waiting[1].close();
        others.push(await openedSoon(app.url('/live')));
        assertTooManyRequests(await rawUpgrade(app.port, upgradeRequest('/live')));
        const log = app.logs.text();
        for (const secret of secrets) assert.ok(!log.includes(secret), 'the log must not contain a token');
      } finally {
        await closeAll([...waiting, ...others]);
      }
    });

    it('takes maxPendingAuthenticationsPerAddress from the module, under the global maxPendingAuthentications', async () => {
      const sockets: SocketWitness[] = [];
      try {
        sockets.push(await openFrom(small.url('/live')), await openFrom(small.url('/live')));
        assertTooManyRequests(await rawUpgrade(small.port, upgradeRequest('/live')));
        sockets.push(await openFrom(small.url('/live'), OTHER_ADDRESS));
        // Three waiting in all: the global bound answers now, whoever asks.
        const full = await attemptFrom(small.url('/live'), OTHER_ADDRESS);
        assert.equal(full.kind, 'refused', JSON.stringify(full));
        if (full.kind === 'refused') {
          assert.equal(full.status, 503);
          assert.deepEqual(JSON.parse(full.body), { error: 'unavailable', reason: 'too_many_pending' });
        }
        await sockets[0].authenticate(token('al-small'));
        sockets.push(await openedSoon(small.url('/live'), OTHER_ADDRESS));
      } finally {
        await closeAll(sockets);
      }
    });
  });

  describe('message size once authenticated', () => {
    let app: TestApp;
    let moduleLimited: TestApp;
    const secrets: string[] = [];
    before(async () => {
      moduleLimited = await startTestApp(
        appModule(
          [
            makeRecordingGateway('MpModule', { path: '/module' }),
            // The gateway's own ws option, beside wsAuth: Nest passes it to ws as it is.
            makeRecordingGateway('MpModuleOwn', { path: '/module-own', maxPayload: 64 * KIB } as { path: string }),
          ],
          { jwt: { secret: TEST_SECRET }, maxPayload: 2048 },
        ),
      );
      app = await startTestApp(
        appModule([
          makeRecordingGateway('MpDefault', { path: '/default' }),
          makeRecordingGateway('MpSmall', { path: '/small', wsAuth: { maxPayload: 4096 } }),
          makeRecordingGateway('MpOwn', { path: '/own', maxPayload: 8192, wsAuth: { maxPayload: 4096 } } as { path: string }),
          makeRecordingGateway('MpLive', { path: '/live', wsAuth: { mode: 'in-band' } }),
        ]),
      );
    });
    after(async () => {
      await app.close();
      await moduleLimited.close();
    });

    /** An `echo` frame of exactly `bytes` bytes. */
    function echoFrameOf(bytes: number): string {
      const bare = JSON.stringify({ event: 'echo', data: '' });
      const frame = JSON.stringify({ event: 'echo', data: 'x'.repeat(bytes - Buffer.byteLength(bare)) });
      assert.equal(Buffer.byteLength(frame), bytes);
      return frame;
    }

    async function open(target: TestApp, path: string, sub: string): Promise<SocketWitness> {
      const token = signToken({ sub });
      secrets.push(token);
      if (path !== '/live') return openWitnessed(target.url(path), { headers: { Authorization: `Bearer ${token}` } });
      const socket = await openWitnessed(target.url(path));
      await socket.authenticate(token);
      return socket;
    }

    async function assertPasses(target: TestApp, path: string, bytes: number) {
      const socket = await open(target, path, `mp-pass-${bytes}`);
      socket.socket.send(echoFrameOf(bytes));
      const reply = await socket.next('echo', 5000);
      assert.equal(reply.data.length, bytes - Buffer.byteLength(JSON.stringify({ event: 'echo', data: '' })));
      await socket.close();
    }

    async function assertTooBig(target: TestApp, path: string, gateway: string, bytes: number) {
      const socket = await open(target, path, `mp-big-${bytes}`);
      const echoes = dispatchesOf(gateway, 'echo').length;
      socket.socket.send(echoFrameOf(bytes));
      const close = await closedWithin(socket);
      assert.equal(close.code, 1009, `${path}: ${bytes} bytes closed with ${close.code} "${close.reason}"`);
      assert.deepEqual(socket.events('echo'), []);
      assert.equal(dispatchesOf(gateway, 'echo').length, echoes, 'the oversized message reached a handler');
      const seen = socket.seen(close) + target.logs.text();
      for (const secret of secrets) assert.ok(!seen.includes(secret), 'no token in the close reason or the log');
    }

    it('closes with 1009 a message of 1 MiB + 1 byte by default, and lets 512 KiB and 1 MiB through', async () => {
      await assertPasses(app, '/default', 512 * KIB);
      await assertPasses(app, '/default', MIB);
      await assertTooBig(app, '/default', 'MpDefault', MIB + 1);
    });

    it('applies the same default to an in-band connection once it has authenticated', async () => {
      await assertPasses(app, '/live', 512 * KIB);
      await assertTooBig(app, '/live', 'MpLive', MIB + 1);
    });

    it("lowers the limit with the gateway's wsAuth.maxPayload", async () => {
      await assertPasses(app, '/small', 4096);
      await assertTooBig(app, '/small', 'MpSmall', 4097);
    });

    it("lets the gateway's own maxPayload win over wsAuth.maxPayload", async () => {
      await assertPasses(app, '/own', 8192);
      await assertTooBig(app, '/own', 'MpOwn', 8193);
    });

    it("takes maxPayload from the module, and lets the gateway's own maxPayload win over it", async () => {
      await assertPasses(moduleLimited, '/module', 2048);
      await assertTooBig(moduleLimited, '/module', 'MpModule', 2049);
      await assertPasses(moduleLimited, '/module-own', 64 * KIB);
      await assertTooBig(moduleLimited, '/module-own', 'MpModuleOwn', 64 * KIB + 1);
    });
  });

  describe('protocol errors of clients', () => {
    const PER_KIND = 50;
    let app: TestApp;
    before(async () => {
      app = await startTestApp(
        appModule([makeRecordingGateway('PeLive', { path: '/live', wsAuth: { mode: 'in-band' } }), makeRecordingGateway('PeChat', { path: '/chat' })], {
          jwt: { secret: TEST_SECRET },
          // This suite counts log lines per connection, not refusals.
          maxPendingAuthenticationsPerAddress: 1000,
        }),
      );
    });
    after(() => app.close());

    // Each breaks RFC 6455 in its own way; ws closes with the code section 7.4.1 assigns.
    const BAD_FRAMES: Array<{ what: string; code: number; send: (raw: RawWebSocket) => void }> = [
      // A truncated two-byte sequence and a lone continuation byte: never valid UTF-8 (1007).
      { what: 'invalid UTF-8', code: 1007, send: (raw) => raw.sendFrame(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x80, 0x22, 0x7d])) },
      // Section 5.1: a client frame must be masked (1002).
      { what: 'an unmasked frame', code: 1002, send: (raw) => raw.writePayload(Buffer.from([0x81, 0x02, 0x68, 0x69])) },
      // Section 5.2: opcode 0x3 is reserved (1002).
      { what: 'a reserved opcode', code: 1002, send: (raw) => raw.sendFrame('hi', 0x3) },
    ];

    it(`logs no error and no stack trace for ${PER_KIND} unauthenticated and ${PER_KIND} authenticated sockets breaking the protocol`, async () => {
      // Nest's logger override is process-wide; this app's capture must see what the library logs.
      Logger.overrideLogger(app.logs);
      const token = signToken({ sub: 'pe-user' });
      const linesBefore = app.logs.lines.length;
      const handledBefore = dispatchesOf('PeChat').length + dispatchesOf('PeLive').length;
      const wrong: string[] = [];
      const kinds: Array<{ path: string; headers: Array<[string, string]> }> = [
        { path: '/live', headers: [] },
        { path: '/chat', headers: [['Authorization', `Bearer ${token}`]] },
      ];
      for (const { path, headers } of kinds) {
        for (let batch = 0; batch < PER_KIND / 10; batch++) {
          await Promise.all(
            Array.from({ length: 10 }, async (_, i) => {
              const bad = BAD_FRAMES[(batch * 10 + i) % BAD_FRAMES.length];
              const raw = await RawWebSocket.open(app.port, path, { headers });
              try {
                bad.send(raw);
                const close = await within(raw.closed(), 3000, 'the close frame').catch(() => undefined);
                if (close?.code !== bad.code) wrong.push(`${path}, ${bad.what}: ${close ? `${close.code} "${close.reason}"` : 'no close frame'}`);
                assert.ok(!(close?.reason ?? '').includes(token));
              } finally {
                raw.destroy();
              }
            }),
          );
        }
      }
      assert.deepEqual(wrong, [], 'each protocol error closes with its RFC 6455 code');
      const connections = 2 * PER_KIND;
      await sleep(200);
      const added = app.logs.lines.slice(linesBefore);
      const text = added.join('\n');
      assert.ok(!added.some((line) => /^(error|fatal|warn)\b/.test(line)), `error-level lines: ${text.slice(0, 500)}`);
      assert.ok(!/^\s+at /m.test(text), `stack trace in the log: ${text.slice(0, 500)}`);
      assert.ok(added.length <= connections, `${added.length} log lines for ${connections} connections`);
      assert.ok(
        added.every((line) => /^(debug|verbose) /.test(line)),
        `lines above debug: ${text.slice(0, 500)}`,
      );
      assert.ok(Buffer.byteLength(text) < 100 * connections, `${Buffer.byteLength(text)} bytes logged for ${connections} connections`);
      assert.ok(!text.includes(token), 'the log must not contain the token');
      // Control: only the handshake sockets ever reached Nest (handleConnection, then handleDisconnect).
      await eventually(
        () => dispatchesOf('PeChat').length + dispatchesOf('PeLive').length === handledBefore + 2 * PER_KIND,
        2000,
        'every chat socket connected and disconnected',
      );
      assert.equal(dispatchesOf('PeChat', 'echo').length + dispatchesOf('PeLive', 'echo').length, 0);
    });
  });
});
