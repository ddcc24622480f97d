// Child process for test/e2e/connection-churn.e2e.ts: one handshake gateway that holds idle
// authenticated sockets, and a `measure` command over IPC. It runs apart from the test runner
// (and with --expose-gc) so its heap holds nothing but the app and its connections.
import { createHook } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsConnections } from '../../lib/index.js';
import { appModule } from './fixtures.js';
import { startTestApp } from './test-app.js';

export interface ChurnMeasure {
  heapUsed: number;
  /** process.getActiveResourcesInfo() by type; it leaves out unref'd timers like the expiry timers. */
  resources: Record<string, number>;
  /** Every Timeout object not yet fired or cleared, unref'd ones included. */
  liveTimeouts: number;
  /**
   * Node's timer lists (one per distinct duration), read through --expose-internals:
   * nothing public shows them, and an unref'd timer cleared before it fires leaves its
   * list behind until the duration elapses. Undefined when this Node hides them.
   */
  timerLists?: number;
  connections: number;
  logLines: number;
}

export type ChurnMessage = { ready: number } | { measured: ChurnMeasure };

const liveTimeouts = new Set<number>();
createHook({
  init(id, type) {
    if (type === 'Timeout') liveTimeouts.add(id);
  },
  destroy(id) {
    liveTimeouts.delete(id);
  },
}).enable();

// No handleConnection bookkeeping: anything kept per connection would count as a leak.
@WebSocketGateway({ path: '/churn' })
class ChurnGateway {
  @SubscribeMessage('ping')
  ping() {
    return { event: 'pong', data: null };
  }
}

const timerListMap = nodeTimerLists();

function nodeTimerLists(): Record<string, unknown> | undefined {
  try {
    return (createRequire(import.meta.url)('internal/timers') as { timerListMap?: Record<string, unknown> }).timerListMap;
  } catch {
    return undefined;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('churn-server needs --expose-gc');

const app = await startTestApp(appModule([ChurnGateway]));
const connections = app.app.get(WsConnections);

async function measure(): Promise<ChurnMeasure> {
  // Several passes with turns of the loop between them, so sockets closed a moment ago have
  // emitted their last events and weak references (identity and session maps) are cleared.
  for (let pass = 0; pass < 4; pass++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc!();
  }
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  return {
    heapUsed: process.memoryUsage().heapUsed,
    resources,
    liveTimeouts: liveTimeouts.size,
    timerLists: timerListMap && Object.keys(timerListMap).length,
    connections: connections.count(),
    logLines: app.logs.lines.length,
  };
}

process.on('message', (message: { command: 'measure' | 'close' }) => {
  if (message.command === 'measure') void measure().then((measured) => process.send!({ measured } satisfies ChurnMessage));
  if (message.command === 'close') void app.close().then(() => process.exit(0));
});
process.send!({ ready: app.port } satisfies ChurnMessage);
