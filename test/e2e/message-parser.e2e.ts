import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import WebSocket from 'ws';
import { WsAuthAdapter, type WsAuthMessageParser } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { LogCapture } from '../support/log-capture.js';
import { makeRecordingGateway } from '../support/recording-gateway.js';
import { signToken } from '../support/tokens.js';
import { closed, nextEvent, openOrFail } from '../support/ws-client.js';

// `event|json`: a frame format that JSON.parse cannot read, so only the adapter's parser can.
const pipeParser: WsAuthMessageParser = (data) => {
  const text = String(data);
  const bar = text.indexOf('|');
  if (bar === -1) return undefined;
  return { event: text.slice(0, bar), data: JSON.parse(text.slice(bar + 1)) };
};

describe('WsAuthAdapter messageParser', { timeout: 20_000 }, () => {
  let app: INestApplication;
  let port = 0;
  const logs = new LogCapture();
  before(async () => {
    app = await NestFactory.create(
      appModule([makeRecordingGateway('PipeChat', { path: '/chat' }), makeRecordingGateway('PipeLive', { path: '/live', wsAuth: { mode: 'in-band' } })]),
      { logger: logs, abortOnError: false },
    );
    app.useWebSocketAdapter(new WsAuthAdapter(app, { messageParser: pipeParser }));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as { port: number }).port;
  });
  after(() => app.close());

  it('reads the frames of an authenticated connection with the parser given to the adapter', async () => {
    const socket = await openOrFail(`ws://127.0.0.1:${port}/chat`, { headers: { Authorization: `Bearer ${signToken({ sub: 'pipe-1' })}` } });
    const reply = nextEvent(socket, 'echo');
    socket.send('echo|{"hello":"pipe"}');
    assert.deepEqual((await reply).data, { hello: 'pipe' });
    socket.close();
  });

  it('reads the in-band authenticate frame with the same parser, and refuses a JSON one it cannot read', async () => {
    const token = signToken({ sub: 'pipe-2' });
    const live = await openOrFail(`ws://127.0.0.1:${port}/live`);
    const authenticated = nextEvent(live, 'authenticated');
    live.send(`authenticate|${JSON.stringify({ token })}`);
    assert.ok((await authenticated).data.expiresAt > Date.now());
    const reply = nextEvent(live, 'whoami');
    live.send('whoami|{}');
    assert.equal((await reply).data.subject, 'pipe-2');
    live.close();

    const json = await openOrFail(`ws://127.0.0.1:${port}/live`);
    json.send(JSON.stringify({ event: 'authenticate', data: { token } }));
    const close = await closed(json);
    assert.equal(close.code, 4401);
    assert.ok(!close.reason.includes(token) && !logs.text().includes(token));
    assert.equal(json.readyState === WebSocket.CLOSED, true);
  });
});
