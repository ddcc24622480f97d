import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

// A quiet, offline browser: nothing fetched from Google, no GPU, no QUIC, no first-run UI.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Finds Debian's chromium (never a downloaded browser). Outside CI a missing browser skips
 * the suite with a loud message; under CI=true it is an error, because .ci/run installs it.
 */
export function findChromium(): string | undefined {
  if (isExecutable(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  const onPath = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout?.trim();
  if (onPath) return onPath;
  const message = 'chromium not found: install it (apt-get install -y chromium) to run the browser tests';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n!!! SKIPPING BROWSER TESTS: ${message} !!!\n`);
  return undefined;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/** Where a screenshot for people to look at goes: test-output/screenshots/ (gitignored). */
export function screenshotPath(name: string): string {
  // .build/test/support/ -> repository root
  const folder = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));
  mkdirSync(folder, { recursive: true });
  return `${folder}${name}`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installed in every page before its own scripts: plain `fetch` and `WebSocket`, so what a
 * test proves is what any page script can do. A failed handshake is only a close event with
 * code 1006 to a page; the HTTP status stays hidden from it by design.
 */
export const PAGE_PROBES = `
(() => {
  const sockets = new Map();
  let next = 0;
  globalThis.probe = {
    open(url, protocols) {
      return new Promise((resolve) => {
        const socket = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
        let errored = false;
        socket.addEventListener('error', () => { errored = true; });
        socket.addEventListener('open', () => {
          const id = ++next;
          sockets.set(id, socket);
          resolve({ opened: true, id, protocol: socket.protocol });
        });
        socket.addEventListener('close', (event) => resolve({ opened: false, code: event.code, errored }));
      });
    },
    ask(id, event, data) {
      const socket = sockets.get(id);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no "' + event + '" answer within 3 s')), 3000);
        socket.addEventListener('message', function onMessage(message) {
          const frame = JSON.parse(message.data);
          if (frame.event !== event) return;
          clearTimeout(timer);
          socket.removeEventListener('message', onMessage);
          resolve(frame.data);
        });
        socket.send(JSON.stringify({ event, data }));
      });
    },
    close(id) {
      sockets.get(id)?.close();
      sockets.delete(id);
    },
    async post(path, body, options = {}) {
      const headers = { 'content-type': 'application/json' };
      if (options.token) headers.authorization = 'Bearer ' + options.token;
      const response = await fetch(path, {
        method: 'POST',
        headers,
        body: JSON.stringify(body ?? {}),
        credentials: options.credentials ?? 'same-origin',
      });
      return { status: response.status, body: response.ok ? await response.json() : null };
    },
  };
})();
`;
