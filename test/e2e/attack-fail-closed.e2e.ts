import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Inject, UseGuards } from '@nestjs/common';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { of } from 'rxjs';
import type { WebSocket } from 'ws';
import { getWsIdentity, Roles, WsAuthGuard, WsConnections, WsRolesGuard, WsTicketService, WsUser, type WsJwtClaims } from '../../lib/index.js';
import { within } from '../support/close-deadline.js';
import { appModule } from '../support/fixtures.js';
import { RawWebSocket } from '../support/raw-frames.js';
import { rawUpgrade, upgradeRequest } from '../support/raw-upgrade.js';
import { sleep } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';

/** One masked client text frame, as bytes, so several can go out in one TCP write. */
function maskedTextFrame(text: string): Buffer {
  const body = Buffer.from(text);
  const length = body.length;
  const header = length < 126 ? Buffer.alloc(2) : Buffer.alloc(4);
  header[0] = 0x81;
  if (length < 126) header[1] = 0x80 | length;
  else {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = body[i] ^ mask[i & 3];
  return Buffer.concat([header, mask, masked]);
}

const frame = (event: string, data?: unknown) => maskedTextFrame(JSON.stringify({ event, data }));

/** What a handler saw when it ran: was the connection still open and authenticated? */
interface Run {
  readonly event: string;
  readonly open: boolean;
  readonly identity: boolean;
  readonly user: unknown;
}
const runs: Run[] = [];

// A gateway where a client's own frame can trigger an auth close of its connection (an app
// "logout" or a moderation rule that disconnects the sender): the frames pipelined behind it
// must not be handled once the close has happened.
@WebSocketGateway({ path: '/pipelined' })
class PipelinedGateway {
  constructor(@Inject(WsConnections) private readonly connections: WsConnections) {}

  @SubscribeMessage('logout')
  logout(@ConnectedSocket() client: WebSocket) {
    const subject = getWsIdentity(client)!.subject!;
    // The socket is closed here, synchronously; only other instances are told later.
    void this.connections.disconnect(subject, 'logged_out');
    runs.push({ event: 'logout', open: client.readyState === 1, identity: Boolean(getWsIdentity(client)), user: undefined });
  }

  @UseGuards(WsAuthGuard)
  @SubscribeMessage('guarded')
  guarded(@WsUser() user: unknown, @ConnectedSocket() client: WebSocket) {
    runs.push({ event: 'guarded', open: client.readyState === 1, identity: Boolean(getWsIdentity(client)), user });
    return { event: 'guarded', data: 'ok' };
  }

  @UseGuards(WsRolesGuard)
  @Roles('admin')
  @SubscribeMessage('admin')
  admin(@WsUser() user: unknown, @ConnectedSocket() client: WebSocket) {
    runs.push({ event: 'admin', open: client.readyState === 1, identity: Boolean(getWsIdentity(client)), user });
    return { event: 'admin', data: 'ok' };
  }
}

// `validate` written the Nest way: an Observable of the user (HttpService, CQRS query bus,
// a reactive repository). An Observable of null must refuse like null does.
@WebSocketGateway({ path: '/observable' })
class ObservableGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown) {
    return { event: 'whoami', data: { user: String(user) } };
  }
}

describe('attack: fail closed everywhere', { timeout: 60_000 }, () => {
  let app: TestApp;
  let observable: TestApp;
  const secrets: string[] = [];

  before(async () => {
    app = await startTestApp(
      appModule([PipelinedGateway], {
        jwt: { secret: TEST_SECRET },
        closeGraceMs: 300,
        expiryWarningMs: 0,
        validate: (claims: WsJwtClaims) => ({ username: claims.username }),
        tickets: { maxEntries: 200 },
      }),
    );
    observable = await startTestApp(
      appModule([ObservableGateway], {
        jwt: { secret: TEST_SECRET },
        // Any user named "nobody" does not exist: the lookup emits null.
        validate: (claims: WsJwtClaims) => of(claims.username === 'nobody' ? null : { username: claims.username }) as never,
      }),
    );
  });
  after(async () => {
    await app?.close();
    await observable?.close();
  });

  function token(claims: Record<string, unknown>, expiresIn = 300): string {
    const signed = signToken(claims, { expiresIn });
    secrets.push(signed);
    return signed;
  }

  function assertNoSecret(seen: string) {
    const logs = app.logs.text() + observable.logs.text();
    for (const secret of secrets) {
      assert.ok(!seen.includes(secret), 'a credential reached the peer');
      assert.ok(!logs.includes(secret), 'a credential reached the log');
    }
  }

  it('validate() returning an Observable of null refuses the upgrade like null does (no 101)', async () => {
    const bearer = token({ sub: 'obs-nobody', username: 'nobody' });
    const response = await rawUpgrade(observable.port, upgradeRequest('/observable', [['Authorization', `Bearer ${bearer}`]]));
    assertNoSecret(response.raw);
    assert.notEqual(response.status, 101, 'a user the lookup did not find was admitted (the Observable itself became the user)');
    assert.ok(response.status === 401 || response.status === 500, `expected 401 or 500, got ${response.status}`);
  });

  it('frames pipelined behind the frame that closed the connection (logout) reach no handler, guarded or not', async () => {
    runs.length = 0;
    const bearer = token({ sub: 'pipe-admin', username: 'pipe-admin', roles: ['user', 'admin'] });
    const raw = await RawWebSocket.open(app.port, '/pipelined', { headers: [['Authorization', `Bearer ${bearer}`]] });
    try {
      // Control: the connection works and admin frames reach the handler.
      raw.tcp.write(frame('admin'));
      await within(
        (async () => {
          while (!runs.some((run) => run.event === 'admin')) await sleep(10);
        })(),
        2000,
        'the control admin frame',
      );
      runs.length = 0;
      // One TCP write: logout, then frames an attacker wants handled after it.
      raw.tcp.write(Buffer.concat([frame('logout'), frame('admin'), frame('guarded'), frame('admin')]));
      const close = await within(raw.closed(), 3000, 'the close frame');
      assert.deepEqual({ code: close?.code, reason: close?.reason }, { code: 4403, reason: 'Logged Out' });
      await sleep(200);
      const afterClose = runs.filter((run) => run.event !== 'logout');
      assertNoSecret(raw.texts().join('\n') + (close?.reason ?? ''));
      assert.deepEqual(afterClose, [], `handlers ran after the auth close of their connection: ${JSON.stringify(afterClose)}`);
    } finally {
      raw.destroy();
    }
  });

  it('frames pipelined behind a refused refresh (forged token) reach no handler after the 4401 close', async () => {
    runs.length = 0;
    const bearer = token({ sub: 'pipe-refresh', username: 'pipe-refresh', roles: ['user', 'admin'] });
    const forged = signToken({ sub: 'pipe-refresh', username: 'pipe-refresh', roles: ['admin'] }, {}, 'not-the-secret-but-long-enough-0123456789abcdef');
    secrets.push(forged);
    const raw = await RawWebSocket.open(app.port, '/pipelined', { headers: [['Authorization', `Bearer ${bearer}`]] });
    try {
      raw.tcp.write(Buffer.concat([frame('authenticate', { token: forged }), frame('admin'), frame('guarded')]));
      const close = await within(raw.closed(), 3000, 'the close frame');
      assert.equal(close?.code, 4401);
      await sleep(200);
      assertNoSecret(raw.texts().join('\n') + (close?.reason ?? ''));
      const afterClose = runs.filter((run) => !run.open);
      assert.deepEqual(afterClose, [], `handlers ran after the auth close of their connection: ${JSON.stringify(afterClose)}`);
    } finally {
      raw.destroy();
    }
  });

  it('a token without sub cannot fill the ticket store for every other user', async () => {
    const tickets = app.app.get(WsTicketService);
    const anonymous = token({ sub: undefined, username: 'no-sub-user' });
    const victim = token({ sub: 'ticket-victim', username: 'victim' });
    const fakeRequest = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as never;
    // The store holds 200 tickets here (10,000 by default); one subject may hold 10.
    let issued = 0;
    for (let i = 0; i < 250; i++) {
      try {
        await tickets.issueForToken(anonymous, fakeRequest);
        issued++;
      } catch {
        break;
      }
    }
    let victimStatus = 200;
    try {
      await tickets.issueForToken(victim, fakeRequest);
    } catch (error) {
      victimStatus = (error as { getStatus?: () => number }).getStatus?.() ?? 0;
    }
    assert.ok(issued <= 10, `one account without sub held ${issued} unredeemed tickets (maxPerSubject is 10)`);
    assert.equal(victimStatus, 200, `another user could not get a ticket: ${victimStatus}`);
  });
});
