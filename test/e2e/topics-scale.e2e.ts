import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Inject } from '@nestjs/common';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { WsTopics } from '../../lib/index.js';
import { appModule } from '../support/fixtures.js';
import { startTestApp } from '../support/test-app.js';
import { signToken, TEST_SECRET } from '../support/tokens.js';
import { closed, openOrFail, request } from '../support/ws-client.js';

const CONNECTIONS = 10_000;
const GROUPS = 100;
// Handshakes in flight at once: well under the listen backlog.
const BATCH = 200;
// Each connection holds a descriptor in each process: the server runs in a child of its own,
// so neither process needs more than ~10,000 descriptors.
const SERVER_ROLE = 'TOPICS_SCALE_SERVER';

interface Measure {
  connections: number;
  topics: number;
  pendingJoins: number;
  everyone: number;
  group: number;
  topicsOfFirst: number;
}

@WebSocketGateway({ path: '/scale' })
class ScaleGateway {
  private first?: WebSocket;

  constructor(@Inject(WsTopics) readonly topics: WsTopics) {}

  @SubscribeMessage('join3')
  async join3(@ConnectedSocket() client: WebSocket, @MessageBody() index: number) {
    this.first ??= client;
    for (const topic of ['scale:all', `scale:group:${index % GROUPS}`, `scale:own:${index}`]) await this.topics.join(client, topic);
    return { event: 'joined3', data: index };
  }

  measure(): Measure {
    return {
      ...this.topics.size,
      everyone: this.topics.membersOf('scale:all').length,
      group: this.topics.membersOf('scale:group:0').length,
      topicsOfFirst: this.first ? this.topics.topicsOf(this.first).length : -1,
    };
  }
}

async function serve(): Promise<void> {
  const app = await startTestApp(
    appModule([ScaleGateway], { jwt: { secret: TEST_SECRET }, topics: { policies: [{ pattern: 'scale:*', authorize: () => true }] } }),
  );
  const gateway = app.app.get(ScaleGateway);
  process.on('message', (message) => {
    if (message === 'measure') process.send!({ measured: gateway.measure() });
  });
  process.send!({ ready: app.port });
}

class ScaleServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static start(): Promise<ScaleServer> {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [SERVER_ROLE]: '1' }, stdio: 'inherit' });
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`topics scale server exited with ${code}`)));
      child.once('message', (message: { ready?: number }) => {
        if (message.ready) resolve(new ScaleServer(child, message.ready));
      });
    });
  }

  measure(): Promise<Measure> {
    return new Promise((resolve) => {
      const onMessage = (message: { measured?: Measure }) => {
        if (!message.measured) return;
        this.child.off('message', onMessage);
        resolve(message.measured);
      };
      this.child.on('message', onMessage);
      this.child.send('measure');
    });
  }

  stop(): void {
    this.child.removeAllListeners('exit');
    this.child.kill('SIGKILL');
  }
}

if (process.env[SERVER_ROLE] === '1') {
  await serve();
} else {
  describe('WsTopics membership at scale', { timeout: 180_000 }, () => {
    let server: ScaleServer;

    before(async () => {
      server = await ScaleServer.start();
    });

    after(() => server?.stop());

    it(`holds ${CONNECTIONS} connections in 3 topics each, and nothing once they closed`, async () => {
      const url = `ws://127.0.0.1:${server.port}/scale`;
      const headers = { authorization: `Bearer ${signToken({ sub: 'scale' }, { expiresIn: 600 })}` };
      const sockets: WebSocket[] = [];
      for (let start = 0; start < CONNECTIONS; start += BATCH) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(BATCH, CONNECTIONS - start) }, async (_, i) => {
            const socket = await openOrFail(url, { headers });
            const answer = await request(socket, 'join3', start + i, 'joined3');
            assert.equal(answer.data, start + i);
            return socket;
          }),
        );
        sockets.push(...batch);
      }
      assert.deepEqual(await server.measure(), {
        connections: CONNECTIONS,
        topics: 1 + GROUPS + CONNECTIONS,
        pendingJoins: 0,
        everyone: CONNECTIONS,
        group: CONNECTIONS / GROUPS,
        topicsOfFirst: 3,
      });
      for (let start = 0; start < sockets.length; start += BATCH) {
        await Promise.all(
          sockets.slice(start, start + BATCH).map((socket) => {
            const done = closed(socket);
            socket.close();
            return done;
          }),
        );
      }
      // A close reaches the server a moment after the client saw it answered.
      let measure = await server.measure();
      for (let tries = 0; tries < 100 && measure.connections > 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        measure = await server.measure();
      }
      assert.deepEqual(measure, { connections: 0, topics: 0, pendingJoins: 0, everyone: 0, group: 0, topicsOfFirst: 0 });
    });
  });
}
