// The packed package, require()d by a CommonJS Nest 11 app (app.cjs) in a plain Node process:
// what a Nest 11 user gets from `npm install nestjs-ws-auth`. run.mjs packs and unpacks it
// into ./node_modules before the run.
'use strict';
const assert = require('node:assert/strict');
const { fork } = require('node:child_process');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const jwt = require('jsonwebtoken');
const WebSocket = require('ws');

const SECRET = 'cjs-consumer-secret-0123456789-0123456789';

describe('CommonJS Nest 11 app that require()s the packed package', () => {
  let app;
  let ready;
  let stderr = '';

  before(async () => {
    // execArgv: [] keeps the e2e run's resolution hook out of this process.
    app = fork(path.join(__dirname, 'app.cjs'), [], {
      execArgv: [],
      env: { ...process.env, CJS_CONSUMER_SECRET: SECRET },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    app.stderr.on('data', (chunk) => (stderr += chunk));
    ready = await new Promise((resolve, reject) => {
      app.once('message', resolve);
      app.once('exit', (code) => reject(new Error(`app.cjs exited with ${code} before listening:\n${stderr}`)));
    });
  });

  after(async () => {
    if (!app || app.exitCode !== null) return;
    const exited = new Promise((resolve) => app.once('exit', resolve));
    app.send('close');
    await exited;
  });

  it('loads the package from node_modules on Nest 11', () => {
    assert.match(ready.nestVersion, /^11\./);
    assert.equal(path.relative(__dirname, ready.packageEntry), path.join('node_modules', 'nestjs-ws-auth', 'dist', 'lib', 'index.js'));
    assert.equal(ready.sharesNest, true);
  });

  it('upgrades a client with a valid JWT and gives the handler its user', async () => {
    // Beyond the default 60 s expiry warning, so the first frame is the answer, not token_expiring.
    const token = jwt.sign({ sub: '7', username: 'carol' }, SECRET, { expiresIn: 300 });
    const socket = new WebSocket(`ws://127.0.0.1:${ready.port}/chat`, { headers: { Authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const answer = new Promise((resolve) => socket.once('message', (raw) => resolve(JSON.parse(raw.toString()))));
    socket.send(JSON.stringify({ event: 'whoami' }));
    const { event, data } = await answer;
    assert.equal(event, 'whoami');
    assert.equal(data.user.username, 'carol');
    assert.equal(data.sameAsGetter, true);
    socket.close();
  });

  it('refuses a client without a token with 401', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${ready.port}/chat`);
    const response = await new Promise((resolve, reject) => {
      socket.once('unexpected-response', (_request, res) => {
        res.resume();
        resolve(res);
      });
      socket.once('open', () => reject(new Error('upgraded without a token')));
      socket.once('error', reject);
    });
    assert.equal(response.statusCode, 401);
    assert.match(response.headers['www-authenticate'], /^Bearer realm="websocket"/);
  });

  it('logged no error', () => {
    // Some Node lines print an ExperimentalWarning for require(esm); that is Node's, not ours.
    const ours = stderr.split('\n').filter((line) => line && !/ExperimentalWarning|--trace-warnings/.test(line));
    assert.deepEqual(ours, []);
  });
});
