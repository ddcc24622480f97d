import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import WebSocket, { WebSocketServer } from 'ws';
import { WsConnections } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { assertNotLeaked } from '../support/handshake-assertions.js';
import { eventually } from '../support/socket-witness.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signToken } from '../support/tokens.js';
import { closed, nextEvent, openOrFail } from '../support/ws-client.js';

// ws ends each socket's frame receiver again after it has finished (on the peer's FIN and when
// TCP closes); Node answers each such call with an error, stack trace and all, that nobody
// reads. These tests count the calls that reach Node's end() on a receiver already finished,
// for the server-side sockets only.
const SOCKETS = 5;
const accepted: WebSocket[] = [];

@WebSocketGateway({ path: '/chat' })
class ChatGateway implements OnGatewayConnection {
  handleConnection(client: WebSocket) {
    accepted.push(client);
  }
}

@WebSocketGateway({ path: '/live', wsAuth: { mode: 'in-band' } })
class LiveGateway implements OnGatewayConnection {
  handleConnection(client: WebSocket) {
    accepted.push(client);
  }
}

const receiverOf = (socket: WebSocket) => (socket as unknown as { _receiver: Writable })._receiver;

/** Counts, until restored, every end() with no arguments on a finished receiver of `sockets`. */
function countRedundantEnds(sockets: WebSocket[]): { count(): number; restore(): void } {
  const original = Writable.prototype.end;
  const receivers = () => new Set(sockets.map(receiverOf));
  let redundant = 0;
  Writable.prototype.end = function (this: Writable, ...args: unknown[]) {
    if (args.length === 0 && this.writableFinished && receivers().has(this)) redundant++;
    return (original as (...args: unknown[]) => Writable).apply(this, args);
  } as Writable['end'];
  return { count: () => redundant, restore: () => void (Writable.prototype.end = original) };
}

/** Waits until every server-side socket has finished closing (its 'close' event). */
async function allClosed(sockets: WebSocket[]): Promise<void> {
  await eventually(() => sockets.every((socket) => socket.readyState === WebSocket.CLOSED), 5000, 'every server-side socket closed');
}

describe('closing sockets the adapter accepted', () => {
  let server: TestApp;

  before(async () => {
    server = await startTestApp(appModule([ChatGateway, LiveGateway]));
  });

  after(async () => {
    await server.close();
  });

  const withCounter = async (t: TestContext, run: () => Promise<void>) => {
    accepted.length = 0;
    const counter = countRedundantEnds(accepted);
    t.after(counter.restore);
    await run();
    await allClosed(accepted);
    assert.equal(accepted.length, SOCKETS);
    assert.equal(counter.count(), 0, 'a finished receiver was ended again');
  };

  it('closed by the client: no receiver is ended twice', async (t) => {
    await withCounter(t, async () => {
      for (let i = 0; i < SOCKETS; i++) {
        const client = await openOrFail(server.url('/chat'), { headers: { Authorization: `Bearer ${signToken({ sub: `c${i}` })}` } });
        const done = closed(client);
        client.close(1000, 'bye');
        assert.equal((await done).code, 1000);
      }
    });
  });

  it('closed by the server (a revocation): no receiver is ended twice, the close code is kept', async (t) => {
    await withCounter(t, async () => {
      const token = signToken({ sub: 'banned' });
      const clients = await Promise.all(
        Array.from({ length: SOCKETS }, () => openOrFail(server.url('/chat'), { headers: { Authorization: `Bearer ${token}` } })),
      );
      const done = clients.map(closed);
      assert.equal(await server.app.get(WsConnections).disconnect('banned'), SOCKETS);
      for (const close of await Promise.all(done)) {
        assert.equal(close.code, 4403);
        assertNotLeaked(server, close.reason, token);
      }
    });
  });

  it('in-band, closed by the client after authenticating: no receiver is ended twice', async (t) => {
    await withCounter(t, async () => {
      for (let i = 0; i < SOCKETS; i++) {
        const client = await openOrFail(server.url('/live'));
        const authenticated = nextEvent(client, 'authenticated');
        client.send(JSON.stringify({ event: 'authenticate', data: { token: signToken({ sub: `l${i}` }) } }));
        await authenticated;
        const done = closed(client);
        client.close(1000);
        assert.equal((await done).code, 1000);
      }
    });
  });
});

describe('the same count on a bare ws server (the control)', () => {
  it('sees ws end every receiver twice, so the tests above can fail', async (t) => {
    const sockets: WebSocket[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (socket) => sockets.push(socket));
    await new Promise((resolve) => wss.once('listening', resolve));
    const counter = countRedundantEnds(sockets);
    t.after(() => {
      counter.restore();
      wss.close();
    });
    const { port } = wss.address() as { port: number };
    for (let i = 0; i < SOCKETS; i++) {
      const client = await openOrFail(`ws://127.0.0.1:${port}/`);
      const done = closed(client);
      client.close(1000);
      await done;
    }
    await allClosed(sockets);
    // Should a later Node or ws stop ending twice, endReceiverOnce has nothing left to save.
    if (counter.count() === 0) t.diagnostic('ws no longer ends a finished receiver again: lib/adapter/receiver-end.ts can go');
    else assert.ok(counter.count() >= SOCKETS, `${counter.count()} redundant ends for ${SOCKETS} sockets`);
  });
});
