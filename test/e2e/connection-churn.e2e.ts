import assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import type { ChurnMeasure, ChurnMessage } from '../support/churn-server.js';
import { signToken } from '../support/tokens.js';
import { closed, openOrFail } from '../support/ws-client.js';

const WANTED_CONNECTIONS = 10_000;
const ROUNDS = 5;
// Handshakes in flight at once: well under the listen backlog (511) and somaxconn.
const CONCURRENT_HANDSHAKES = 200;
// Sockets are spread over many subjects, so the registry's per-subject sets come and go too.
const SUBJECTS = 500;
// Round 1 is the reference: it builds the lazy caches a first connection needs (~2.5 MB).
// After GC, heapUsed then moves by up to ~300 KB between identical states (a plain WsAdapter
// app measured -200 KB over 7 rounds), and the timer lists below add ~0.6 MB over 4 rounds.
// 2 MB over the 40,000 connections of rounds 2 to 5 still catches any leak of 52 bytes (one
// small object) per connection.
const HEAP_GROWTH_BOUND = 2 * 1024 * 1024;
const SERVER_SCRIPT = fileURLToPath(new URL('../support/churn-server.js', import.meta.url));

/**
 * Each idle connection costs one descriptor in each process (client here, server in the
 * child). Raising the child's limit alone would not help this process, so with a low
 * `ulimit -n` the test falls back to what both can hold, and says so.
 */
function connectionsThisMachineAllows(): number {
  const limit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  const descriptors = limit === 'unlimited' ? Infinity : Number(limit);
  const allowed = Math.min(WANTED_CONNECTIONS, descriptors - 256);
  if (allowed < WANTED_CONNECTIONS) {
    console.warn(`\n!!! connection churn: ulimit -n is ${limit}, testing ${allowed} connections instead of ${WANTED_CONNECTIONS} !!!\n`);
  }
  return allowed;
}

class ChurnServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static start(): Promise<ChurnServer> {
    // fork() passes this process's execArgv on: the Nest 11 run's --import hook comes along.
    const child = fork(SERVER_SCRIPT, [], { execArgv: [...process.execArgv, '--expose-gc', '--expose-internals'], stdio: 'inherit' });
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`churn server exited with ${code}`)));
      child.once('message', (message: ChurnMessage) => {
        if ('ready' in message) resolve(new ChurnServer(child, message.ready));
      });
    });
  }

  url(): string {
    return `ws://127.0.0.1:${this.port}/churn`;
  }

  measure(): Promise<ChurnMeasure> {
    return new Promise((resolve) => {
      this.child.once('message', (message: ChurnMessage) => {
        if ('measured' in message) resolve(message.measured);
      });
      this.child.send({ command: 'measure' });
    });
  }

  /** Measures once the server has seen every close: a client's close event can come first. */
  async measureWhenEmpty(): Promise<ChurnMeasure> {
    for (let attempt = 0; ; attempt++) {
      const measured = await this.measure();
      if (measured.connections === 0 || attempt === 50) return measured;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    this.child.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ command: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    return exited.finally(() => clearTimeout(timer));
  }
}

async function openIdle(url: string, tokens: string[], count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let first = 0; first < count; first += CONCURRENT_HANDSHAKES) {
    const batch = Array.from({ length: Math.min(CONCURRENT_HANDSHAKES, count - first) }, (_, i) =>
      openOrFail(url, { headers: { Authorization: `Bearer ${tokens[(first + i) % tokens.length]}` } }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

async function closeAll(sockets: WebSocket[]): Promise<number[]> {
  const codes = sockets.map((socket) => closed(socket).then(({ code }) => code));
  for (const socket of sockets) socket.close(1000);
  return Promise.all(codes);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

describe('idle authenticated connections: open and close without growth', () => {
  const connections = connectionsThisMachineAllows();
  // Every connection holds an expiry timer: an hour is far enough to stay armed all along.
  const tokens = Array.from({ length: SUBJECTS }, (_, i) => signToken({ sub: `churn-${i}` }, { expiresIn: 3600 }));
  let server: ChurnServer;
  let baseline: ChurnMeasure;
  const afterRound: ChurnMeasure[] = [];

  before(async () => {
    server = await ChurnServer.start();
    baseline = await server.measure();
  });
  after(() => server?.stop());

  it(`opens and closes ${connections} connections ${ROUNDS} times`, { timeout: 180_000 }, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const started = Date.now();
      const sockets = await openIdle(server.url(), tokens, connections);
      const opened = Date.now();
      const full = await server.measure();
      assert.equal(full.connections, connections, `round ${round}: every socket is tracked`);
      // One shared scheduler timer holds every connection's deadline.
      assert.equal(full.liveTimeouts - baseline.liveTimeouts, 1, `round ${round}: the expiry schedule is armed`);
      assert.deepEqual(
        await closeAll(sockets),
        sockets.map(() => 1000),
      );
      const emptied = await server.measureWhenEmpty();
      afterRound.push(emptied);
      console.log(
        `round ${round}: opened ${connections} in ${opened - started} ms, closed in ${Date.now() - opened} ms; ` +
          `heap open ${mb(full.heapUsed)}, after close ${mb(emptied.heapUsed)}; ` +
          `${((full.heapUsed - baseline.heapUsed) / connections).toFixed(0)} heap bytes per idle connection`,
      );

      assert.equal(emptied.connections, 0, `round ${round}: WsConnections.count() returns to 0`);
      assert.equal(emptied.liveTimeouts, baseline.liveTimeouts, `round ${round}: every expiry timer is gone`);
      assert.deepEqual(emptied.resources, baseline.resources, `round ${round}: active handles return to the baseline`);
      assert.equal(emptied.logLines, baseline.logLines, `round ${round}: nothing logged per connection`);
    }
    console.log(`baseline heap ${mb(baseline.heapUsed)}, resources ${JSON.stringify(baseline.resources)}, timeouts ${baseline.liveTimeouts}`);
    const growth = afterRound[ROUNDS - 1]!.heapUsed - afterRound[0]!.heapUsed;
    console.log(`heap growth from round 1 to round ${ROUNDS}: ${(growth / 1024).toFixed(0)} KB (bound ${mb(HEAP_GROWTH_BOUND)})`);
    assert.ok(growth <= HEAP_GROWTH_BOUND, `heap grew by ${mb(growth)} over ${ROUNDS - 1} rounds of churn`);
  });

  // Node deletes an emptied timer list at once only for ref'd timers (lib/timers.js, unenroll);
  // an unref'd one stays until its duration elapses. Per-connection unref'd timers with
  // millisecond-distinct delays would leave one list (~160 bytes) per closed connection.
  it('leaves no timer lists behind once the connections are closed', () => {
    if (baseline.timerLists === undefined) return void console.warn('this Node hides its timer lists');
    const lists = afterRound.map((measured) => measured.timerLists);
    console.log(`timer lists: baseline ${baseline.timerLists}, after each round ${lists.join(', ')}`);
    assert.equal(afterRound.length, ROUNDS);
    for (const count of lists) assert.ok(count! <= baseline.timerLists + 10, `${count} timer lists after churn, ${baseline.timerLists} before`);
  });
});
