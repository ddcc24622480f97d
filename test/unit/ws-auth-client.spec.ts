import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsAuthClient, type WsAuthClientCredential, type WsAuthClientOptions } from '../../lib/client/ws-auth-client.js';
import { FakeClock } from '../support/fake-clock.js';
import { fakeWebSockets, type FakeWebSocket } from '../support/fake-websocket.js';

type Mode = WsAuthClientCredential['mode'];

interface HarnessOptions {
  mode?: Mode;
  url?: string;
  random?: number;
  reconnect?: WsAuthClientOptions['reconnect'];
  getToken?: () => Promise<string>;
  fetchTicket?: () => Promise<string>;
}

const INITIAL = 100;
const MAX = 1000;

/** A client on a fake clock and fake sockets, with everything it reports recorded. */
function harness(options: HarnessOptions = {}) {
  const clock = new FakeClock();
  const { WebSocket, sockets } = fakeWebSockets();
  const asked = { tokens: 0, tickets: 0 };
  const getToken = options.getToken ?? (async () => `token-${++asked.tokens}`);
  const fetchTicket = options.fetchTicket ?? (async () => `ticket-${++asked.tickets}`);
  const mode = options.mode ?? 'ticket';
  const credential: WsAuthClientCredential = mode === 'ticket' ? { mode, fetchTicket } : mode === 'subprotocol' ? { mode, protocol: 'chat.v1' } : { mode };
  let reconnects = 0;
  const client = new WsAuthClient({
    url: options.url ?? 'ws://server.test/chat',
    credential,
    getToken,
    WebSocket,
    clock,
    random: () => options.random ?? 0.5,
    reconnect: options.reconnect ?? { initialDelayMs: INITIAL, maxDelayMs: MAX },
    onReconnect: () => reconnects++,
  });
  const states: string[] = [];
  const stopped: unknown[] = [];
  client.on('state', (state) => states.push(state));
  client.on('stopped', (info) => stopped.push(info));
  return {
    client,
    clock,
    sockets,
    asked,
    states,
    stopped,
    get reconnects() {
      return reconnects;
    },
    last: (): FakeWebSocket => {
      const socket = sockets.at(-1);
      assert.ok(socket, 'no socket was created');
      return socket;
    },
  };
}

type Harness = ReturnType<typeof harness>;

// Lets the client's awaited ticket/token promises settle.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Accepts the newest socket as the server would, including the in-band answer. */
async function serverAccepts(h: Harness, mode: Mode = 'ticket'): Promise<FakeWebSocket> {
  await flush();
  const socket = h.last();
  socket.accept(mode === 'subprotocol' ? 'chat.v1' : '');
  if (mode === 'in-band') {
    await flush();
    socket.deliver({ event: 'authenticated', data: { expiresAt: 1 } });
  }
  assert.equal(h.client.state, 'open');
  return socket;
}

async function connected(h: Harness, mode: Mode = 'ticket'): Promise<FakeWebSocket> {
  h.client.connect();
  return serverAccepts(h, mode);
}

/** Fires the one pending reconnect timer and lets the reconnect reach `new WebSocket`. */
async function fireReconnect(h: Harness): Promise<number> {
  const [delay] = h.clock.pendingDelays;
  assert.equal(h.clock.pendingDelays.length, 1, 'exactly one reconnect timer should wait');
  h.clock.advance(delay!);
  await flush();
  return delay!;
}

describe('WsAuthClient', () => {
  describe('credentials, asked anew for every connect', () => {
    it('ticket: fetches a ticket only when connecting and puts it, encoded, in the URL', async () => {
      let n = 0;
      const h = harness({ fetchTicket: async () => `t+/=${++n}` });
      await flush();
      assert.equal(n, 0, 'no ticket before connect()');
      await connected(h);
      assert.equal(h.sockets[0]!.url, 'ws://server.test/chat?ticket=t%2B%2F%3D1');
      assert.equal(h.sockets[0]!.protocols, undefined);
      h.last().drop(4401, 'Unauthorized');
      await fireReconnect(h);
      assert.equal(h.sockets[1]!.url, 'ws://server.test/chat?ticket=t%2B%2F%3D2');
    });

    it('ticket: appends to a URL that already has a query', async () => {
      const h = harness({ url: 'ws://server.test/chat?room=1' });
      await connected(h);
      assert.equal(h.last().url, 'ws://server.test/chat?room=1&ticket=ticket-1');
    });

    it('subprotocol: offers the app protocol and bearer.<fresh token>', async () => {
      const h = harness({ mode: 'subprotocol' });
      assert.equal(h.asked.tokens, 0);
      await connected(h, 'subprotocol');
      assert.equal(h.sockets[0]!.url, 'ws://server.test/chat');
      assert.deepEqual(h.sockets[0]!.protocols, ['chat.v1', 'bearer.token-1']);
      h.last().drop(1006);
      await fireReconnect(h);
      assert.deepEqual(h.sockets[1]!.protocols, ['chat.v1', 'bearer.token-2']);
    });

    it('cookie: the bare URL, no protocols, and getToken is never called', async () => {
      const h = harness({ mode: 'cookie' });
      await connected(h, 'cookie');
      h.last().drop(4401);
      await fireReconnect(h);
      for (const socket of h.sockets) {
        assert.equal(socket.url, 'ws://server.test/chat');
        assert.equal(socket.protocols, undefined);
      }
      assert.equal(h.asked.tokens, 0);
    });

    it('in-band: sends authenticate on open and is open only after `authenticated`', async () => {
      const h = harness({ mode: 'in-band' });
      h.client.connect();
      await flush();
      const socket = h.last();
      assert.equal(socket.url, 'ws://server.test/chat');
      assert.equal(socket.protocols, undefined);
      assert.equal(h.asked.tokens, 0, 'the token is asked for once the socket is open');
      socket.accept();
      await flush();
      assert.equal(h.client.state, 'authenticating');
      assert.deepEqual(socket.frames, [{ event: 'authenticate', data: { token: 'token-1' } }]);
      assert.equal(h.client.send('whoami'), false, 'nothing is sent before the server accepted the token');
      socket.deliver({ event: 'authenticated', data: { expiresAt: 123 } });
      assert.equal(h.client.state, 'open');
      assert.deepEqual(h.states, ['connecting', 'authenticating', 'open']);

      socket.drop(4401);
      await fireReconnect(h);
      h.last().accept();
      await flush();
      assert.deepEqual(h.last().frames, [{ event: 'authenticate', data: { token: 'token-2' } }]);
    });

    it('in-band: a getToken() failure on open closes that socket and tries again later', async () => {
      let fail = true;
      const h = harness({ mode: 'in-band', getToken: async () => (fail ? Promise.reject(new Error('offline')) : 'good') });
      h.client.connect();
      await flush();
      const socket = h.last();
      socket.accept();
      await flush();
      assert.deepEqual(socket.sent, []);
      assert.equal(socket.closedWith?.code, 1000);
      socket.drop(1000, 'no token');
      assert.equal(h.client.state, 'reconnecting');
      fail = false;
      await fireReconnect(h);
      h.last().accept();
      await flush();
      assert.deepEqual(h.last().frames, [{ event: 'authenticate', data: { token: 'good' } }]);
    });
  });

  describe('refresh over the open socket', () => {
    it('answers token_expiring with a fresh getToken() in an authenticate frame, on the same socket', async () => {
      const h = harness({ mode: 'subprotocol' });
      const socket = await connected(h, 'subprotocol');
      const heard: unknown[] = [];
      const refreshed: unknown[] = [];
      h.client.on('token_expiring', (data) => heard.push(data));
      h.client.on('refreshed', (data) => refreshed.push(data));
      socket.deliver({ event: 'token_expiring', data: { expiresAt: 1000 } });
      await flush();
      assert.deepEqual(socket.frames, [{ event: 'authenticate', data: { token: 'token-2' } }]);
      assert.deepEqual(heard, [{ expiresAt: 1000 }], 'the app hears the warning too');
      assert.equal(refreshed.length, 0, 'refreshed only once the server accepted the token');
      socket.deliver({ event: 'authenticated', data: { expiresAt: 2000 } });
      assert.deepEqual(refreshed, [{ expiresAt: 2000 }]);
      assert.equal(h.sockets.length, 1, 'no reconnect');
      assert.deepEqual(h.states, ['connecting', 'open']);
      assert.deepEqual(h.clock.pendingDelays, []);
      assert.equal(h.reconnects, 0);
    });

    it('in-band: a later `authenticated` is a refresh, not a second open', async () => {
      const h = harness({ mode: 'in-band' });
      const socket = await connected(h, 'in-band');
      const refreshed: unknown[] = [];
      h.client.on('refreshed', (data) => refreshed.push(data));
      socket.deliver({ event: 'token_expiring', data: { expiresAt: 5 } });
      await flush();
      assert.deepEqual(socket.frames.at(-1), { event: 'authenticate', data: { token: 'token-2' } });
      socket.deliver({ event: 'authenticated', data: { expiresAt: 9 } });
      assert.deepEqual(refreshed, [{ expiresAt: 9 }]);
      assert.deepEqual(h.states, ['connecting', 'authenticating', 'open']);
      assert.equal(h.reconnects, 0);
    });

    it('without a fresh token it keeps the socket until the server closes it, then reconnects', async () => {
      let calls = 0;
      const h = harness({ mode: 'subprotocol', getToken: async () => (++calls === 2 ? Promise.reject(new Error('offline')) : `token-${calls}`) });
      const socket = await connected(h, 'subprotocol');
      socket.deliver({ event: 'token_expiring', data: { expiresAt: 1 } });
      await flush();
      assert.deepEqual(socket.sent, []);
      assert.equal(h.client.state, 'open');
      socket.drop(4401, 'Token Expired');
      await fireReconnect(h);
      assert.deepEqual(h.last().protocols, ['chat.v1', 'bearer.token-3']);
    });
  });

  describe('closes and reconnects', () => {
    it('4401: reconnects after a jittered backoff with a fresh credential', async () => {
      const h = harness();
      const socket = await connected(h);
      socket.drop(4401, 'Unauthorized');
      assert.equal(h.client.state, 'reconnecting');
      const [delay] = h.clock.pendingDelays;
      assert.ok(delay! >= INITIAL / 2 && delay! <= INITIAL, `delay ${delay} outside [${INITIAL / 2}, ${INITIAL}]`);
      h.clock.advance(delay! - 1);
      await flush();
      assert.equal(h.sockets.length, 1, 'not before the delay');
      h.clock.advance(1);
      await flush();
      assert.equal(h.sockets.length, 2);
      assert.equal(h.last().url, 'ws://server.test/chat?ticket=ticket-2');
      await serverAccepts(h);
      assert.deepEqual(h.states, ['connecting', 'open', 'reconnecting', 'open']);
    });

    for (const random of [0, 0.25, 0.5, 0.999]) {
      it(`jitter: random() = ${random} gives half the ceiling plus that share of the other half`, async () => {
        const h = harness({ random });
        (await connected(h)).drop(4401);
        assert.deepEqual(h.clock.pendingDelays, [INITIAL / 2 + random * (INITIAL / 2)]);
      });
    }

    it('4408: reconnects', async () => {
      const h = harness({ mode: 'in-band' });
      h.client.connect();
      await flush();
      h.last().accept();
      await flush();
      h.last().drop(4408, 'Authentication Timeout');
      assert.equal(h.client.state, 'reconnecting');
      await fireReconnect(h);
      assert.equal(h.sockets.length, 2);
      await serverAccepts(h, 'in-band');
      assert.deepEqual(h.stopped, []);
    });

    it('4403: stops with the code and reason and never reconnects', async () => {
      const h = harness();
      (await connected(h)).drop(4403, 'Kicked by an admin');
      assert.equal(h.client.state, 'stopped');
      assert.deepEqual(h.stopped, [{ code: 4403, reason: 'Kicked by an admin' }]);
      assert.deepEqual(h.clock.pendingDelays, []);
      h.clock.advance(3_600_000);
      await flush();
      assert.equal(h.sockets.length, 1);
      assert.equal(h.asked.tickets, 1);
      assert.equal(h.client.send('whoami'), false);
    });

    for (const code of [1006, 1001, 1011, 1013]) {
      it(`${code}: reconnects`, async () => {
        const h = harness();
        (await connected(h)).drop(code);
        await fireReconnect(h);
        assert.equal(h.sockets.length, 2);
        assert.deepEqual(h.stopped, []);
      });
    }

    it('a socket that never opened (refused upgrade, 1006) is retried too', async () => {
      const h = harness();
      h.client.connect();
      await flush();
      h.last().drop(1006);
      assert.equal(h.client.state, 'reconnecting');
      await fireReconnect(h);
      assert.equal(h.sockets.length, 2);
    });

    it('backoff doubles and caps at maxDelayMs', async () => {
      const h = harness({ random: 1 });
      h.client.connect();
      await flush();
      const delays: number[] = [];
      for (let i = 0; i < 6; i++) {
        h.last().drop(1006);
        delays.push(await fireReconnect(h));
      }
      assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
    });

    it('follows factor and initialDelayMs', async () => {
      const h = harness({ random: 1, reconnect: { initialDelayMs: 10, factor: 3, maxDelayMs: 200 } });
      h.client.connect();
      await flush();
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        h.last().drop(1006);
        delays.push(await fireReconnect(h));
      }
      assert.deepEqual(delays, [10, 30, 90, 200, 200]);
    });

    it('the attempt counter resets after a successful open', async () => {
      const h = harness({ random: 1 });
      h.client.connect();
      await flush();
      h.last().drop(1006);
      assert.equal(await fireReconnect(h), 100);
      h.last().drop(1006);
      assert.equal(await fireReconnect(h), 200);
      await serverAccepts(h);
      h.last().drop(4401);
      assert.equal(await fireReconnect(h), 100);
    });

    it('a failing ticket fetch is retried with backoff, without creating a socket', async () => {
      let fail = 2;
      const h = harness({ random: 1, fetchTicket: async () => (fail-- > 0 ? Promise.reject(new Error('503')) : 'ticket-ok') });
      h.client.connect();
      await flush();
      assert.equal(h.sockets.length, 0);
      assert.equal(await fireReconnect(h), 100);
      assert.equal(await fireReconnect(h), 200);
      assert.equal(h.sockets.length, 1);
      assert.equal(h.last().url, 'ws://server.test/chat?ticket=ticket-ok');
    });

    it('gives up after maxAttempts and says so', async () => {
      const h = harness({ reconnect: { initialDelayMs: 10, maxAttempts: 2 } });
      h.client.connect();
      await flush();
      h.last().drop(1006);
      await fireReconnect(h);
      h.last().drop(1006);
      await fireReconnect(h);
      h.last().drop(1006);
      assert.equal(h.client.state, 'stopped');
      assert.deepEqual(h.stopped, [{ code: 0, reason: 'gave up reconnecting' }]);
      assert.deepEqual(h.clock.pendingDelays, []);
      assert.equal(h.sockets.length, 3);
    });

    it('onReconnect runs after each reconnect that reached open, never after the first connect', async () => {
      const h = harness();
      const socket = await connected(h);
      assert.equal(h.reconnects, 0);
      socket.drop(4401);
      await fireReconnect(h);
      assert.equal(h.reconnects, 0, 'not before the new socket is open');
      h.last().drop(1006);
      await fireReconnect(h);
      await serverAccepts(h);
      assert.equal(h.reconnects, 1);
      h.last().drop(4408);
      await fireReconnect(h);
      await serverAccepts(h);
      assert.equal(h.reconnects, 2);
    });

    it('in-band: onReconnect waits for `authenticated`', async () => {
      const h = harness({ mode: 'in-band' });
      (await connected(h, 'in-band')).drop(4401);
      await fireReconnect(h);
      h.last().accept();
      await flush();
      assert.equal(h.reconnects, 0);
      h.last().deliver({ event: 'authenticated', data: {} });
      assert.equal(h.reconnects, 1);
    });

    it('ignores whatever a replaced socket still reports', async () => {
      const h = harness();
      const old = await connected(h);
      old.drop(1006);
      await fireReconnect(h);
      await serverAccepts(h);
      const chats: unknown[] = [];
      h.client.on('chat', (data) => chats.push(data));
      old.deliver({ event: 'chat', data: { text: 'stale' } });
      old.drop(4403, 'late');
      assert.deepEqual(chats, []);
      assert.equal(h.client.state, 'open');
      assert.deepEqual(h.stopped, []);
    });
  });

  describe('API', () => {
    it('send() answers false unless open, and sends {event, data} when open', async () => {
      const h = harness();
      assert.equal(h.client.send('chat', { text: 'idle' }), false);
      h.client.connect();
      assert.equal(h.client.send('chat', { text: 'connecting' }), false);
      await flush();
      assert.equal(h.client.send('chat', { text: 'socket not open yet' }), false);
      const socket = await serverAccepts(h);
      assert.equal(h.client.send('chat', { text: 'hi' }), true);
      assert.equal(h.client.send('whoami'), true);
      assert.deepEqual(socket.frames, [{ event: 'chat', data: { text: 'hi' } }, { event: 'whoami' }]);
      socket.drop(1006);
      assert.equal(h.client.send('chat', { text: 'reconnecting' }), false);
    });

    it('on() delivers server events by name; junk frames are ignored; the returned function unsubscribes', async () => {
      const h = harness();
      const socket = await connected(h);
      const seen: unknown[] = [];
      const off = h.client.on('chat', (data) => seen.push(data));
      socket.deliver({ event: 'chat', data: { text: 'one' } });
      socket.deliver({ event: 'other', data: 1 });
      socket.deliver('not json');
      socket.deliver({ data: 'no event' });
      socket.deliver('null');
      off();
      socket.deliver({ event: 'chat', data: { text: 'two' } });
      assert.deepEqual(seen, [{ text: 'one' }]);
      const states: unknown[] = [];
      h.client.on('state', (state) => states.push(state))();
      socket.drop(1006);
      assert.deepEqual(states, []);
    });

    it('close() stops, closes the socket with 1000 and does not reconnect when its close arrives', async () => {
      const h = harness();
      const socket = await connected(h);
      h.client.close();
      assert.equal(h.client.state, 'stopped');
      assert.deepEqual(socket.closedWith, { code: 1000, reason: 'client closed' });
      assert.deepEqual(h.stopped, [{ code: 1000, reason: 'client closed' }]);
      socket.drop(1000, 'client closed');
      h.clock.advance(60_000);
      await flush();
      assert.equal(h.sockets.length, 1);
      assert.equal(h.client.send('whoami'), false);
    });

    it('close() cancels a pending reconnect', async () => {
      const h = harness();
      (await connected(h)).drop(4401);
      assert.equal(h.clock.pendingDelays.length, 1);
      h.client.close();
      assert.deepEqual(h.clock.pendingDelays, []);
      h.clock.advance(60_000);
      await flush();
      assert.equal(h.sockets.length, 1);
      assert.equal(h.asked.tickets, 1);
    });

    it('close() while a ticket is being fetched: no socket is opened afterwards', async () => {
      let release!: (ticket: string) => void;
      const h = harness({ fetchTicket: () => new Promise((resolve) => (release = resolve)) });
      h.client.connect();
      await flush();
      h.client.close();
      release('late-ticket');
      await flush();
      assert.equal(h.sockets.length, 0);
      assert.equal(h.client.state, 'stopped');
    });

    it('connect() twice opens one socket; connect() after stopping opens again', async () => {
      const h = harness();
      h.client.connect();
      h.client.connect();
      await flush();
      assert.equal(h.sockets.length, 1);
      h.client.close();
      h.client.connect();
      await flush();
      assert.equal(h.sockets.length, 2);
    });

    it('close() then connect() while the first ticket is still being fetched: one socket, no orphan', async () => {
      const releases: Array<(ticket: string) => void> = [];
      const h = harness({ fetchTicket: () => new Promise((resolve) => releases.push(resolve)) });
      h.client.connect();
      await flush();
      h.client.close();
      h.client.connect();
      await flush();
      releases.forEach((release, i) => release(`ticket-${i}`));
      await flush();
      // An extra socket would stay open and authenticated with nobody listening to it.
      assert.deepEqual(
        h.sockets.map((socket) => socket.url),
        ['ws://server.test/chat?ticket=ticket-1'],
      );
    });

    it('connect() after giving up gets a fresh set of attempts', async () => {
      const h = harness({ reconnect: { initialDelayMs: 10, maxAttempts: 1 } });
      h.client.connect();
      await flush();
      h.last().drop(1006);
      await fireReconnect(h);
      h.last().drop(1006);
      assert.equal(h.client.state, 'stopped');
      h.client.connect();
      await flush();
      h.last().drop(1006);
      assert.equal(h.client.state, 'reconnecting', 'the new connect() should be retried like the first one');
    });

    it('uses the global WebSocket when none is passed', async () => {
      const { WebSocket, sockets } = fakeWebSockets();
      await withGlobalWebSocket(WebSocket, async () => {
        const client = new WsAuthClient({ url: 'ws://server.test/chat', credential: { mode: 'cookie' } });
        client.connect();
        await flush();
        assert.equal(sockets.length, 1);
        client.close();
      });
    });

    it('constructor errors: no WebSocket anywhere; subprotocol or in-band without getToken', async () => {
      await withGlobalWebSocket(undefined, async () => {
        assert.throws(() => new WsAuthClient({ url: 'ws://x/', credential: { mode: 'cookie' } }), /no WebSocket available/);
      });
      const { WebSocket } = fakeWebSockets();
      for (const credential of [{ mode: 'subprotocol', protocol: 'chat.v1' }, { mode: 'in-band' }] as const) {
        assert.throws(() => new WsAuthClient({ url: 'ws://x/', credential, WebSocket }), new RegExp(`${credential.mode} mode needs getToken`));
      }
      assert.doesNotThrow(() => new WsAuthClient({ url: 'ws://x/', credential: { mode: 'cookie' }, WebSocket }));
    });
  });
});

async function withGlobalWebSocket(value: unknown, run: () => Promise<void>): Promise<void> {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
  Object.defineProperty(globalThis, 'WebSocket', { value, configurable: true, writable: true });
  try {
    await run();
  } finally {
    if (saved) Object.defineProperty(globalThis, 'WebSocket', saved);
    else delete (globalThis as { WebSocket?: unknown }).WebSocket;
  }
}
