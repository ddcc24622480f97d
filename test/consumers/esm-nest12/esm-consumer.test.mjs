// The packed package, imported by a Nest 12 ESM app (app.mjs) in a plain Node process: what a
// Nest 12 user gets from `npm install nestjs-ws-auth`. test/nest11/run.mjs packs and unpacks it
// into ./node_modules before the run; this file runs in its full run, after the e2e files.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const SECRET = 'esm-consumer-secret-0123456789-0123456789';

describe('ESM Nest 12 app that imports the packed package', () => {
  let app;
  let ready;
  let output = '';
  let stderr = '';

  before(async () => {
    // execArgv: [] keeps the Nest 11 run's resolution hook out of this process: its imports
    // resolve as a user's would.
    app = fork(path.join(here, 'app.mjs'), [], {
      cwd: here,
      execArgv: [],
      env: { ...process.env, ESM_CONSUMER_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    app.stdout.on('data', (chunk) => (output += chunk));
    app.stderr.on('data', (chunk) => {
      output += chunk;
      stderr += chunk;
    });
    ready = await new Promise((resolve, reject) => {
      app.once('message', resolve);
      app.once('exit', (code) => reject(new Error(`app.mjs exited with ${code} before listening:\n${output}`)));
    });
  });

  after(async () => {
    if (!app || app.exitCode !== null) return;
    const exited = new Promise((resolve) => app.once('exit', resolve));
    app.send('close');
    await exited;
  });

  it('loads the unpacked tarball, not the repository build', () => {
    assert.equal(path.relative(here, ready.packageEntry), path.join('node_modules', 'nestjs-ws-auth', 'dist', 'lib', 'index.js'));
    assert.ok(!ready.packageEntry.startsWith(path.join(root, 'dist') + path.sep), ready.packageEntry);
  });

  it('runs on the root Nest 12, the one the package extends (one DI world)', () => {
    assert.match(ready.nestVersion, /^12\./);
    assert.equal(path.relative(root, ready.nestCore), path.join('node_modules', '@nestjs', 'core', 'index.js'));
    assert.equal(ready.sharesNest, true);
  });

  it('upgrades a client with a valid HS256 JWT and gives the handler its user', async () => {
    // Beyond the default 60 s expiry warning, so the first frame is the answer, not token_expiring.
    const token = jwt.sign({ sub: '7', username: 'carol' }, SECRET, { algorithm: 'HS256', expiresIn: 300 });
    const socket = new WebSocket(`ws://127.0.0.1:${ready.port}/chat`, { headers: { Authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const answer = new Promise((resolve) => socket.once('message', (raw) => resolve(JSON.parse(raw.toString()))));
    socket.send(JSON.stringify({ event: 'whoami' }));
    const { event, data } = await answer;
    assert.equal(event, 'whoami');
    assert.equal(data.user.sub, '7');
    assert.equal(data.user.username, 'carol');
    assert.equal(data.sameAsGetter, true);
    socket.close();
  });

  it('refuses a client without a token with 401', async () => {
    const { response } = await refusedUpgrade();
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="websocket"');
  });

  it('refuses a bad token with 401 and never repeats it', async () => {
    const token = jwt.sign({ sub: '7', username: 'carol' }, 'not-the-secret-0123456789-0123456789', { algorithm: 'HS256', expiresIn: 300 });
    const { response, body } = await refusedUpgrade({ Authorization: `Bearer ${token}` });
    assert.equal(response.statusCode, 401);
    assert.match(response.headers['www-authenticate'], /error="invalid_token"/);
    assert.deepEqual(JSON.parse(body), { error: 'unauthorized', reason: 'invalid_credential' });
    assert.ok(!body.includes(token), 'the 401 body repeats the token');
    // Stdout too: Nest writes warn and below there.
    assert.ok(!output.includes(token), 'the app logged the token');
    assert.ok(!output.includes(token.split('.')[2]), "the app logged the token's signature");
  });

  it('logged no error', () => {
    // Some Node lines print an ExperimentalWarning; that is Node's, not ours.
    const ours = stderr.split('\n').filter((line) => line && !/ExperimentalWarning|--trace-warnings/.test(line));
    assert.deepEqual(ours, []);
  });

  async function refusedUpgrade(headers = {}) {
    const socket = new WebSocket(`ws://127.0.0.1:${ready.port}/chat`, { headers });
    const response = await new Promise((resolve, reject) => {
      socket.once('unexpected-response', (_request, res) => resolve(res));
      socket.once('open', () => reject(new Error('upgraded a client that should be refused')));
      socket.once('error', reject);
    });
    let body = '';
    response.setEncoding('utf8');
    for await (const chunk of response) body += chunk;
    return { response, body };
  }
});
