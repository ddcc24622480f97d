import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { findChromium, launchChromium, PAGE_PROBES, screenshotPath } from '../support/browser.js';
import { startOtherOrigin, type OtherOrigin } from '../support/other-origin.js';
import { startSample, type RunningSample } from '../support/sample-app.js';

const chromiumPath = findChromium();

// What page code sees of the probes installed by PAGE_PROBES.
type Opened = { opened: true; id: number; protocol: string } | { opened: false; code: number; errored: boolean };
const REFUSED = { opened: false, code: 1006, errored: true };
const ALICE = { username: 'alice', password: 'alice' };

/**
 * Log lines written from now on: the refusals a browser cannot see are read on the server.
 * Nest's Logger is process-wide, so every app here logs into the capture of the app created
 * last; the lines are read from all of them.
 */
function logsFromNow(...samples: RunningSample[]): () => string {
  const starts = samples.map((sample) => sample.logs.lines.length);
  return () => samples.flatMap((sample, i) => sample.logs.lines.slice(starts[i])).join('\n');
}

describe('in a real browser (Chromium)', { skip: !chromiumPath && 'chromium not found' }, () => {
  let browser: Browser;
  let sample: RunningSample;
  // Tokens live 4 s and `token_expiring` comes 2 s before exp: refreshes happen within the test.
  let shortLived: RunningSample;
  let other: OtherOrigin;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  before(async () => {
    [browser, sample, shortLived, other] = await Promise.all([
      launchChromium(chromiumPath!),
      startSample(),
      startSample({ accessTokenTtlSeconds: 4, expiryWarningMs: 2000 }),
      startOtherOrigin(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([sample?.close(), shortLived?.close(), other?.close()]);
  });

  beforeEach(async () => {
    context = await browser.newContext();
    await context.addInitScript({ content: PAGE_PROBES });
    pageErrors = [];
    page = await newPage();
  });
  afterEach(async () => {
    await context.close();
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  });

  async function newPage(): Promise<Page> {
    const created = await context.newPage();
    created.on('pageerror', (error) => pageErrors.push(error.message));
    return created;
  }

  describe('fetch and WebSocket only', () => {
    it('a page cannot open /chat before login; after login (HttpOnly cookie) it can, as that user', async () => {
      const logged = logsFromNow(sample, shortLived);
      await page.goto(sample.http('/'));
      const result = await page.evaluate(
        async ({ url, credentials }) => {
          const { probe, document } = globalThis as any;
          const before: Opened = await probe.open(url);
          const login = await probe.post('/auth/login', credentials);
          const cookieReadable = String(document.cookie).includes('access_token');
          const after: Opened = await probe.open(url);
          const who = after.opened ? await probe.ask(after.id, 'whoami') : null;
          return { before, login: login.status, cookieReadable, after, who };
        },
        { url: sample.ws('/chat'), credentials: ALICE },
      );
      assert.deepEqual(result.before, REFUSED);
      assert.match(logged(), /Refused WebSocket upgrade: missing_credential \(401\)/);
      assert.equal(result.login, 200);
      assert.equal(result.cookieReadable, false, 'the access token cookie is HttpOnly');
      assert.equal(result.after.opened, true, JSON.stringify(result.after));
      assert.deepEqual(result.who, { username: 'alice', roles: ['user'] });
    });

    it('the bearer.<jwt> subprotocol opens /chat and ws.protocol is the app protocol, not the token', async () => {
      await page.goto(sample.http('/'));
      const result = await page.evaluate(
        async ({ url, credentials }) => {
          const { probe } = globalThis as any;
          // credentials: 'omit' drops the Set-Cookie, so only the subprotocol can authenticate.
          const login = await probe.post('/auth/login', credentials, { credentials: 'omit' });
          const token: string = login.body.access_token;
          const withoutToken: Opened = await probe.open(url, ['chat.v1']);
          const opened: Opened = await probe.open(url, ['chat.v1', 'bearer.' + token]);
          const who = opened.opened ? await probe.ask(opened.id, 'whoami') : null;
          return { token, withoutToken, opened, who };
        },
        { url: sample.ws('/chat'), credentials: ALICE },
      );
      assert.deepEqual(await context.cookies(), []);
      assert.deepEqual(result.withoutToken, REFUSED);
      assert.equal(result.opened.opened, true, JSON.stringify(result.opened));
      assert.equal(result.opened.opened && result.opened.protocol, 'chat.v1');
      assert.deepEqual(result.who, { username: 'alice', roles: ['user'] });
      assert.ok(!(sample.logs.text() + shortLived.logs.text()).includes(result.token));
    });

    it('a page on another origin of the same host cannot ride the cookie', async () => {
      await page.goto(sample.http('/'));
      assert.equal(await page.evaluate((credentials) => (globalThis as any).probe.post('/auth/login', credentials).then((r: any) => r.status), ALICE), 200);
      const cookies = await context.cookies(sample.origin);
      assert.deepEqual(
        cookies.map((cookie) => [cookie.name, cookie.httpOnly, cookie.sameSite]),
        [['access_token', true, 'Lax']],
      );

      const logged = logsFromNow(sample, shortLived);
      const foreign = await newPage();
      await foreign.goto(`${other.origin}/`);
      const cross = await foreign.evaluate(
        async ({ sampleUrl, ownUrl }) => {
          const { probe } = globalThis as any;
          return { toSample: (await probe.open(sampleUrl)) as Opened, toOwnServer: (await probe.open(ownUrl)) as Opened };
        },
        { sampleUrl: sample.ws('/chat'), ownUrl: other.origin.replace('http', 'ws') + '/' },
      );
      assert.deepEqual(cross.toSample, REFUSED);
      assert.match(logged(), /Refused WebSocket upgrade: origin_not_allowed \(403\)/);
      // Cookies ignore ports (RFC 6265 section 8.5): the browser attached it, the Origin check stopped it.
      const ownUpgrade = other.upgrades.at(-1);
      assert.equal(ownUpgrade?.origin, other.origin);
      assert.match(String(ownUpgrade?.cookie), /access_token=/);

      const home: Opened = await page.evaluate((url) => (globalThis as any).probe.open(url), sample.ws('/chat'));
      assert.equal(home.opened, true, 'the same cookie works from the sample origin');
    });

    it('the ticket flow: login, POST /auth/ws-ticket with Bearer, ?ticket=, whoami; a second use fails', async () => {
      const logged = logsFromNow(sample, shortLived);
      await page.goto(sample.http('/'));
      const result = await page.evaluate(
        async ({ url, credentials }) => {
          const { probe } = globalThis as any;
          const login = await probe.post('/auth/login', credentials, { credentials: 'omit' });
          const issued = await probe.post('/auth/ws-ticket', {}, { token: login.body.access_token, credentials: 'omit' });
          const ticket: string = issued.body.ticket;
          const first: Opened = await probe.open(url + '?ticket=' + encodeURIComponent(ticket));
          const who = first.opened ? await probe.ask(first.id, 'whoami') : null;
          const second: Opened = await probe.open(url + '?ticket=' + encodeURIComponent(ticket));
          return { token: login.body.access_token as string, ticket, issuedStatus: issued.status, first, who, second };
        },
        { url: sample.ws('/chat'), credentials: ALICE },
      );
      assert.equal(result.issuedStatus, 200);
      assert.equal(result.first.opened, true, JSON.stringify(result.first));
      assert.deepEqual(result.who, { username: 'alice', roles: ['user'] });
      assert.deepEqual(result.second, REFUSED);
      assert.match(logged(), /Refused WebSocket upgrade: invalid_credential \(401\)/, 'a spent ticket is invalid');
      const logs = sample.logs.text() + shortLived.logs.text();
      for (const secret of [result.token, result.ticket]) assert.ok(!logs.includes(secret));
    });
  });

  describe('the client helper (/client/ws-auth-client.js)', () => {
    it('keeps one socket alive across token expiry by refreshing it', { timeout: 15_000 }, async () => {
      await page.goto(shortLived.http('/'));
      const result = await page.evaluate(
        async ({ url, credentials }) => {
          const { probe, WebSocket: PageWebSocket } = globalThis as any;
          const moduleUrl = '/client/ws-auth-client.js';
          const { WsAuthClient } = await import(moduleUrl);
          await probe.post('/auth/login', credentials);
          const tokens: string[] = [];
          // A fresh access token from the HttpOnly cookie, as the demo page does.
          const getToken = async () => {
            const answer = await probe.post('/auth/refresh');
            if (answer.status !== 200) throw new Error('refresh answered ' + answer.status);
            tokens.push(answer.body.access_token);
            return answer.body.access_token;
          };
          const closes: number[] = [];
          let sockets = 0;
          class Recorded extends PageWebSocket {
            constructor(address: string, protocols?: string[]) {
              super(address, protocols);
              sockets++;
              this.addEventListener('close', (event: any) => closes.push(event.code));
            }
          }
          const states: string[] = [];
          const refreshed: any[] = [];
          let reconnects = 0;
          const client = new WsAuthClient({
            url,
            credential: { mode: 'subprotocol', protocol: 'chat.v1' },
            getToken,
            WebSocket: Recorded,
            reconnect: { initialDelayMs: 100 },
            onReconnect: () => reconnects++,
          });
          const opened = new Promise<void>((resolve) => client.on('state', (state: string) => state === 'open' && resolve()));
          const firstRefresh = new Promise<void>((resolve) => client.on('refreshed', (data: any) => (refreshed.push(data), resolve())));
          client.on('state', (state: string) => states.push(state));
          client.connect();
          await opened;
          const claims = JSON.parse(atob(tokens[0]!.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')));
          const firstExpiry = claims.exp * 1000;
          await firstRefresh;
          await new Promise((resolve) => setTimeout(resolve, firstExpiry + 500 - Date.now()));
          const who = await new Promise((resolve) => {
            const off = client.on('whoami', (data: unknown) => (off(), resolve(data)));
            client.send('whoami');
          });
          const report = { states: [...states], refreshed, reconnects, sockets, closes: [...closes], who, firstExpiry, now: Date.now() };
          client.close();
          return report;
        },
        { url: shortLived.ws('/chat'), credentials: ALICE },
      );
      assert.ok(result.now > result.firstExpiry, 'whoami was answered after the first token expired');
      assert.deepEqual(result.who, { username: 'alice', roles: ['user'] });
      assert.ok(result.refreshed.length >= 1 && result.refreshed[0].expiresAt > result.firstExpiry, JSON.stringify(result.refreshed));
      assert.equal(result.sockets, 1);
      assert.deepEqual(result.closes, []);
      assert.deepEqual(result.states, ['connecting', 'open']);
      assert.equal(result.reconnects, 0);
    });

    it('recovers from a 4401 (a refused refresh) by reconnecting with a fresh credential; onReconnect resubscribes', { timeout: 15_000 }, async () => {
      await page.goto(shortLived.http('/'));
      const result = await page.evaluate(
        async ({ url, credentials }) => {
          const { probe, WebSocket: PageWebSocket } = globalThis as any;
          const moduleUrl = '/client/ws-auth-client.js';
          const { WsAuthClient } = await import(moduleUrl);
          await probe.post('/auth/login', credentials);
          let calls = 0;
          // The second token (the first refresh) is garbage: the server must close with 4401.
          const getToken = async () => {
            calls++;
            if (calls === 2) return 'not-a-jwt';
            return (await probe.post('/auth/refresh')).body.access_token;
          };
          const closes: number[] = [];
          class Recorded extends PageWebSocket {
            constructor(address: string, protocols?: string[]) {
              super(address, protocols);
              this.addEventListener('close', (event: any) => closes.push(event.code));
            }
          }
          const states: string[] = [];
          let client: any;
          const resubscribed = new Promise((resolve) => {
            client = new WsAuthClient({
              url,
              credential: { mode: 'subprotocol', protocol: 'chat.v1' },
              getToken,
              WebSocket: Recorded,
              reconnect: { initialDelayMs: 100 },
              // What an app does after a reconnect: ask for its state again.
              onReconnect: () => {
                const off = client.on('whoami', (data: unknown) => (off(), resolve(data)));
                client.send('whoami');
              },
            });
          });
          client.on('state', (state: string) => states.push(state));
          client.connect();
          const who = await resubscribed;
          const report = { states: [...states], closes: [...closes], calls, who };
          client.close();
          return report;
        },
        { url: shortLived.ws('/chat'), credentials: ALICE },
      );
      assert.deepEqual(result.closes, [4401]);
      assert.deepEqual(result.states, ['connecting', 'open', 'reconnecting', 'open']);
      assert.equal(result.calls, 3, 'connect, refused refresh, reconnect');
      assert.deepEqual(result.who, { username: 'alice', roles: ['user'] });
    });
  });

  describe('the demo page', () => {
    for (const mode of ['cookie', 'ticket', 'subprotocol', 'in-band']) {
      it(`${mode}: logs in, opens, shows who is connected and chats`, async () => {
        await page.goto(sample.http('/'));
        await page.selectOption('select[name=mode]', mode);
        await page.click('#login button[type=submit]');
        await page.waitForFunction(() => (globalThis as any).document.querySelector('#state').textContent === 'open', null, { timeout: 5000 });
        await page.waitForFunction(() => (globalThis as any).document.querySelector('#who').textContent === 'alice (user)', null, { timeout: 5000 });
        assert.equal(await page.evaluate(() => (globalThis as any).demoClient.state), 'open');
        await page.fill('#chat input[name=text]', `hello over ${mode}`);
        await page.click('#chat button[type=submit]');
        await page.locator('#messages li', { hasText: `alice: hello over ${mode}` }).waitFor({ timeout: 5000 });
        await page.screenshot({ path: screenshotPath(`demo-${mode}.png`), fullPage: true });
      });
    }

    it('refreshes before expiry and stays connected (screenshot after the refresh event)', { timeout: 15_000 }, async () => {
      await page.goto(shortLived.http('/'));
      await page.selectOption('select[name=mode]', 'subprotocol');
      await page.click('#login button[type=submit]');
      await page.locator('#events li', { hasText: 'refreshed: now valid until' }).waitFor({ timeout: 8000 });
      const events = await page.locator('#events li').allTextContents();
      assert.ok(
        events.some((text) => text.includes('token expiring at')),
        events.join('\n'),
      );
      assert.ok(!events.some((text) => text.includes('reconnected')), events.join('\n'));
      assert.equal(await page.locator('#state').textContent(), 'open');
      assert.equal(await page.locator('#who').textContent(), 'alice (user)');
      await page.screenshot({ path: screenshotPath('demo-refreshed.png'), fullPage: true });
    });
  });

  describe('the demo page: topics', () => {
    // Its own app: the role changes below stay out of the other tests' user store.
    let topicsSample: RunningSample;
    before(async () => {
      topicsSample = await startSample();
    });
    after(() => topicsSample?.close());

    const topicBlock = (on: Page, topic: string) => on.locator('.topic', { has: on.locator('strong', { hasText: topic }) });
    const waitForText = (on: Page, selector: string, text: string) =>
      on.waitForFunction(([css, expected]) => (globalThis as any).document.querySelector(css)?.textContent === expected, [selector, text] as const, {
        timeout: 5000,
      });

    async function loginOnPage(on: Page, username: string) {
      await on.goto(topicsSample.http('/'));
      // The page sets the password to the demo user's own on change.
      await on.selectOption('#login select[name=username]', username);
      await on.click('#login button[type=submit]');
      await waitForText(on, '#state', 'open');
    }

    async function setRolesOfAlice(adminPage: Page, admin: boolean) {
      await adminPage.selectOption('#set-roles select[name=username]', 'alice');
      await adminPage.setChecked('#set-roles input[value=admin]', admin);
      await adminPage.click('#set-roles button[type=submit]');
      const roles = admin ? 'user, admin' : 'user';
      await adminPage.locator('#events li', { hasText: new RegExp(`roles of alice now: ${roles}$`) }).waitFor({ timeout: 5000 });
    }

    it('joins rooms and a doc: topic, shows the messages per topic; demoted in another tab, it shows unsubscribed', { timeout: 20_000 }, async () => {
      // The admin's own browser profile: other cookies, another session.
      const adminContext = await browser.newContext();
      try {
        const adminPage = await adminContext.newPage();
        adminPage.on('pageerror', (error) => pageErrors.push(error.message));
        await loginOnPage(adminPage, 'admin');
        await waitForText(adminPage, '#who', 'admin (user, admin)');
        await setRolesOfAlice(adminPage, true);

        await loginOnPage(page, 'alice');
        await waitForText(page, '#who', 'alice (user, admin)');
        for (const topic of ['room:general', 'room:admins', 'doc:1']) {
          await page.fill('#join input[name=topic]', topic);
          await page.click('#join button[type=submit]');
          await page.locator('#events li', { hasText: `joined ${topic}` }).waitFor({ timeout: 5000 });
        }
        assert.equal(await topicBlock(page, 'room:general').locator('.topic-status').textContent(), 'joined');
        await page.waitForFunction(
          () => /^token: \d+ s left$/.test((globalThis as any).document.querySelectorAll('.topic-status')[2]?.textContent ?? ''),
          null,
          {
            timeout: 5000,
          },
        );

        await page.selectOption('#say select[name=topic]', 'room:general');
        await page.fill('#say input[name=text]', 'hello general');
        await page.click('#say button[type=submit]');
        await topicBlock(page, 'room:general').locator('li', { hasText: 'alice: hello general' }).waitFor({ timeout: 5000 });
        assert.equal(await topicBlock(page, 'room:admins').locator('li').count(), 0, 'messages stay in their topic');

        await setRolesOfAlice(adminPage, false);
        await page.locator('#events li', { hasText: 'unsubscribed from room:admins: forbidden' }).waitFor({ timeout: 5000 });
        assert.equal(await topicBlock(page, 'room:admins').locator('.topic-status').textContent(), 'unsubscribed: forbidden');
        await waitForText(page, '#who', 'alice (user)');
        assert.equal(await topicBlock(page, 'room:general').locator('.topic-status').textContent(), 'joined');
        assert.deepEqual(await page.locator('#say select[name=topic] option').allTextContents(), ['room:general', 'doc:1']);
        assert.equal(await page.evaluate(() => (globalThis as any).demoClient.state), 'open', 'no reconnect');
        await page.screenshot({ path: screenshotPath('demo-topics-unsubscribed.png'), fullPage: true });
      } finally {
        await adminContext.close();
      }
    });
  });
});
