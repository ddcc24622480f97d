import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { WsAuthClient, type WsAuthClientOptions } from '../../lib/client/ws-auth-client.js';
import { startSample, type RunningSample } from '../support/sample-app.js';
import { openOrFail, request } from '../support/ws-client.js';

/** `ws`'s WebSocket, unchanged, except that the test can reach each socket and its close code. */
function recordingWebSocket() {
  const sockets: WebSocket[] = [];
  const closes: number[] = [];
  class Recorded extends WebSocket {
    constructor(url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) {
      super(url, protocols, options);
      sockets.push(this);
      this.on('close', (code) => closes.push(code));
    }
  }
  return { WebSocket: Recorded, sockets, closes };
}

type Client = WsAuthClient<Record<string, any>>;

/** A client made the way an app would, with everything it reports recorded. */
function recordedClient(options: Omit<WsAuthClientOptions, 'WebSocket'>) {
  const transport = recordingWebSocket();
  let reconnects = 0;
  const client: Client = new WsAuthClient({
    reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
    ...options,
    WebSocket: transport.WebSocket,
    onReconnect: () => {
      reconnects++;
      options.onReconnect?.();
    },
  });
  const states: string[] = [];
  const stopped: unknown[] = [];
  const refreshed: Array<{ expiresAt: number | null }> = [];
  client.on('state', (state) => states.push(state));
  client.on('stopped', (info) => stopped.push(info));
  client.on('refreshed', (data) => refreshed.push(data));
  return {
    client,
    ...transport,
    states,
    stopped,
    refreshed,
    get reconnects() {
      return reconnects;
    },
  };
}

/** The next time `client` emits `event` (and `accept` agrees), or a timeout. */
function nextFrom(client: Client, event: string, timeoutMs = 5000, accept: (data: any) => boolean = () => true): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no "${event}" from the client within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(event, (data) => {
      if (!accept(data)) return;
      clearTimeout(timer);
      off();
      resolve(data);
    });
  });
}

const opened = (client: Client, timeoutMs?: number) =>
  client.state === 'open' ? Promise.resolve() : nextFrom(client, 'state', timeoutMs, (state) => state === 'open');

async function whoami(client: Client): Promise<{ username: string; roles: string[] }> {
  const answer = nextFrom(client, 'whoami');
  assert.equal(client.send('whoami'), true, `send() refused in state ${client.state}`);
  return answer;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function expiryOf(token: string): number {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp * 1000;
}

describe('client helper (nestjs-ws-auth/client) in Node against the sample', () => {
  let sample: RunningSample;
  // Tokens live 3 s and the warning comes 1.5 s before exp, so expiry is seen within seconds.
  let shortLived: RunningSample;
  const issued: string[] = [];
  const clients: Client[] = [];

  before(async () => {
    [sample, shortLived] = await Promise.all([startSample(), startSample({ accessTokenTtlSeconds: 3, expiryWarningMs: 1500 })]);
  });
  after(async () => {
    for (const client of clients) client.close();
    await Promise.all([sample?.close(), shortLived?.close()]);
  });

  const tokenFrom =
    (target: RunningSample, username = 'alice') =>
    async () => {
      const token = await target.login(username);
      issued.push(token);
      return token;
    };

  const ticketFrom =
    (target: RunningSample, username = 'alice') =>
    async () => {
      const response = await fetch(target.http('/auth/ws-ticket'), {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokenFrom(target, username)()}` },
      });
      assert.equal(response.status, 200);
      const { ticket } = (await response.json()) as { ticket: string };
      issued.push(ticket);
      return ticket;
    };

  function track<T extends { client: Client }>(recorded: T): T {
    clients.push(recorded.client);
    return recorded;
  }

  it('ticket mode: opens /chat as the user, and takes a new ticket to come back after a network loss', async () => {
    const tickets: string[] = [];
    const fetchTicket = ticketFrom(sample);
    const r = track(
      recordedClient({
        url: sample.ws('/chat'),
        credential: { mode: 'ticket', fetchTicket: async () => tickets[tickets.push(await fetchTicket()) - 1]! },
      }),
    );
    r.client.connect();
    await opened(r.client);
    assert.deepEqual(await whoami(r.client), { username: 'alice', roles: ['user'] });
    assert.equal(tickets.length, 1);

    r.sockets[0]!.terminate();
    await nextFrom(r.client, 'state', 5000, (state) => state === 'open');
    assert.deepEqual(r.closes, [1006]);
    assert.equal(tickets.length, 2, 'a spent ticket is never reused');
    assert.notEqual(tickets[0], tickets[1]);
    assert.equal(r.sockets.length, 2);
    assert.equal(r.reconnects, 1);
    assert.deepEqual(r.states, ['connecting', 'open', 'reconnecting', 'open']);
    assert.equal((await whoami(r.client)).username, 'alice');
    r.client.close();
  });

  it('subprotocol mode: opens /chat; the server selects the app protocol, never the token', async () => {
    const r = track(
      recordedClient({
        url: sample.ws('/chat'),
        credential: { mode: 'subprotocol', protocol: 'chat.v1' },
        getToken: tokenFrom(sample, 'admin'),
      }),
    );
    r.client.connect();
    await opened(r.client);
    assert.equal(r.sockets[0]!.protocol, 'chat.v1');
    assert.deepEqual(await whoami(r.client), { username: 'admin', roles: ['user', 'admin'] });
    r.client.close();
  });

  it('header mode: sends Authorization from getToken on every connect, never in the URL', async () => {
    const tokens: string[] = [];
    const getToken = tokenFrom(sample, 'admin');
    const r = track(
      recordedClient({
        url: sample.ws('/chat'),
        credential: { mode: 'header' },
        getToken: async () => tokens[tokens.push(await getToken()) - 1]!,
      }),
    );
    r.client.connect();
    await opened(r.client);
    assert.deepEqual(await whoami(r.client), { username: 'admin', roles: ['user', 'admin'] });
    assert.ok(!r.sockets[0]!.url.includes(tokens[0]!));
    r.sockets[0]!.terminate();
    await nextFrom(r.client, 'state', 5000, (state) => state === 'open');
    assert.equal(tokens.length, 2, 'a reconnect asks for a fresh token');
    assert.equal((await whoami(r.client)).username, 'admin');
    r.client.close();
  });

  it('header mode refuses to start without a WebSocket constructor that takes headers', () => {
    assert.throws(
      () => new WsAuthClient({ url: sample.ws('/chat'), credential: { mode: 'header' }, getToken: tokenFrom(sample) }),
      /header mode needs options.WebSocket/,
    );
  });

  it('in-band mode on /live: authenticating, then open, then handlers know the user', async () => {
    const r = track(recordedClient({ url: sample.ws('/live'), credential: { mode: 'in-band' }, getToken: tokenFrom(sample) }));
    r.client.connect();
    await opened(r.client);
    assert.deepEqual(r.states, ['connecting', 'authenticating', 'open']);
    assert.equal((await whoami(r.client)).username, 'alice');
    r.client.close();
  });

  it('admin:kick closes with 4403: the client stops, reports why and does not reconnect', async () => {
    let asked = 0;
    const getToken = tokenFrom(sample);
    const r = track(
      recordedClient({
        url: sample.ws('/chat'),
        credential: { mode: 'subprotocol', protocol: 'chat.v1' },
        getToken: () => (asked++, getToken()),
      }),
    );
    r.client.connect();
    await opened(r.client);
    const stopped = nextFrom(r.client, 'stopped');
    const admin = await openOrFail(sample.ws('/chat'), { headers: { Authorization: `Bearer ${await tokenFrom(sample, 'admin')()}` } });
    try {
      const kick = await request(admin, 'admin:kick', { username: 'alice' });
      assert.ok(kick.data.disconnected >= 1, JSON.stringify(kick));
    } finally {
      admin.close();
    }
    assert.deepEqual(await stopped, { code: 4403, reason: 'Kicked' });
    // Several backoff periods (50-400 ms): a reconnect would have happened by now.
    await sleep(600);
    assert.equal(r.client.state, 'stopped');
    assert.equal(r.sockets.length, 1);
    assert.equal(asked, 1);
    assert.deepEqual(r.closes, [4403]);
    assert.equal(r.reconnects, 0);
  });

  it('refreshes over the open socket across the token expiry: same socket, no reconnect', { timeout: 10_000 }, async () => {
    const tokens: string[] = [];
    const getToken = tokenFrom(shortLived);
    const r = track(
      recordedClient({
        url: shortLived.ws('/chat'),
        credential: { mode: 'subprotocol', protocol: 'chat.v1' },
        getToken: async () => tokens[tokens.push(await getToken()) - 1]!,
      }),
    );
    r.client.connect();
    await opened(r.client);
    const firstExpiry = expiryOf(tokens[0]!);
    await nextFrom(r.client, 'refreshed', 4000);
    assert.ok(r.refreshed[0]!.expiresAt! > firstExpiry, 'the refresh moved the expiry');

    await sleep(firstExpiry + 500 - Date.now());
    assert.equal((await whoami(r.client)).username, 'alice', 'still served after the first token expired');
    assert.equal(r.sockets.length, 1);
    assert.deepEqual(r.closes, []);
    assert.deepEqual(r.states, ['connecting', 'open']);
    assert.equal(r.reconnects, 0);
    r.client.close();
  });

  it('refresh failing: the server closes with 4401 at exp, the client reconnects with a fresh token and onReconnect runs', { timeout: 10_000 }, async () => {
    const getToken = tokenFrom(shortLived);
    // Refusing to refresh an open socket lets the token run out, as an offline auth server would.
    let refusedRefreshes = 0;
    let resubscribed!: () => void;
    const reconnected = new Promise<void>((resolve) => (resubscribed = resolve));
    const r = track(
      recordedClient({
        url: shortLived.ws('/chat'),
        credential: { mode: 'subprotocol', protocol: 'chat.v1' },
        getToken: (): Promise<string> => (r.client.state === 'open' ? (refusedRefreshes++, Promise.reject(new Error('auth server down'))) : getToken()),
        onReconnect: () => resubscribed(),
      }),
    );
    r.client.connect();
    await opened(r.client);
    await reconnected;
    assert.ok(refusedRefreshes >= 1, 'the client tried to refresh first');
    assert.deepEqual(r.closes, [4401]);
    assert.equal(r.sockets.length, 2);
    assert.deepEqual(r.states, ['connecting', 'open', 'reconnecting', 'open']);
    assert.equal(r.reconnects, 1);
    assert.equal((await whoami(r.client)).username, 'alice');
    r.client.close();
  });

  it('a refused upgrade (401) is retried, not fatal, in a Node process using ws', { timeout: 10_000 }, async () => {
    // In a child process, because the failure is an uncaught exception that ends the process.
    const script = `
        const [clientUrl, wsUrl, target] = process.argv.slice(1);
        const { WsAuthClient } = await import(clientUrl);
        const { default: WebSocket } = await import(wsUrl);
        const client = new WsAuthClient({ url: target, credential: { mode: 'ticket', fetchTicket: async () => 'not-a-ticket' }, WebSocket });
        client.on('state', (state) => console.log(state));
        client.connect();
        setTimeout(() => { client.close(); console.log('survived'); }, 1500);
      `;
    const clientUrl = new URL('../../lib/client/ws-auth-client.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, clientUrl, import.meta.resolve('ws'), sample.ws('/chat')]);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, output);
    assert.match(output, /reconnecting/);
    assert.match(output, /survived/);
  });

  it('no token or ticket reached either sample log', () => {
    assert.ok(issued.length > 5);
    const logs = sample.logs.text() + shortLived.logs.text();
    for (const secret of issued) assert.ok(!logs.includes(secret), 'a credential was logged');
  });
});
