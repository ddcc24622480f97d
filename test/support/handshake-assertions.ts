import assert from 'node:assert/strict';
import type { RawResponse } from './raw-upgrade.js';
import type { TestApp } from './test-app.js';
import { signToken } from './tokens.js';
import { openSocket, request } from './ws-client.js';

/** A credential must never come back to the client nor reach the app's log, at any level. */
export function assertNotLeaked(app: TestApp, seen: unknown, secret: string): void {
  const text = typeof seen === 'string' ? seen : JSON.stringify(seen);
  assert.ok(!text.includes(secret), 'the client must not see the credential');
  assert.ok(!app.logs.text().includes(secret), 'the log must not contain the credential');
}

/** A refusal written by ws for us: the exact status and our fixed JSON body. */
export function assertRefused(response: RawResponse, status: number, reason: string): void {
  assert.equal(response.status, status, `expected ${status}, got ${JSON.stringify(response.raw.slice(0, 200))}`);
  assert.equal(JSON.parse(response.body).reason, reason);
  assert.equal(response.headers.connection, 'close');
}

/**
 * Whatever answered (Node's parser, ws, Express or us), the socket was not upgraded: either a
 * whole HTTP response whose body matches its Content-Length, or a close without a byte.
 */
export function assertNotUpgraded(response: RawResponse): void {
  assert.notEqual(response.status, 101, 'the request must not be upgraded');
  if (response.silent) return;
  assert.ok(response.status !== undefined && response.status >= 400, `expected an HTTP error, got ${JSON.stringify(response.raw.slice(0, 200))}`);
  const length = response.headers['content-length'];
  if (length !== undefined) assert.equal(Buffer.byteLength(response.body, 'latin1'), Number(length));
}

/** After an odd request, the same server still upgrades an honest client on `url`. */
export async function assertStillServes(url: string, expectedUser = 'still-alive'): Promise<void> {
  const outcome = await openSocket(url, { headers: { Authorization: `Bearer ${signToken({ username: expectedUser })}` } });
  assert.equal(outcome.kind, 'open', `the server stopped serving: ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'open') return;
  try {
    assert.equal((await request(outcome.socket, 'whoami')).data.username, expectedUser);
  } finally {
    outcome.socket.close();
  }
}
