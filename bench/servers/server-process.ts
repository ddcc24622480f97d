import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

/**
 * The side of a benchmark server process that talks to the orchestrator over IPC:
 * `ready` once listening, then answers `heap` (after a forced GC), `cpu` (microseconds of
 * CPU this process has used), `info` (what the server measured of itself) and
 * `profileStart` / `profileStop` (a V8 CPU profile of what happened between, written to
 * `path`) until `stop`.
 */
export function serveBenchmark(
  port: number,
  close: () => Promise<void>,
  connections: () => number,
  info: () => Record<string, unknown> | Promise<Record<string, unknown>> = () => ({}),
): void {
  const profiler = new Session();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => profiler.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  process.on('message', async (message: { type: string; path?: string }) => {
    if (message.type === 'profileStart') {
      profiler.connect();
      await post('Profiler.enable');
      // V8 samples every 1 ms by default: a 2 s round gives ~2,000 samples, too few to tell
      // apart costs of a few us per handshake. Every 100 us costs a little more of the round.
      await post('Profiler.setSamplingInterval', { interval: 100 });
      await post('Profiler.start');
      process.send!({ type: 'profileStart' });
    } else if (message.type === 'profileStop') {
      const { profile } = await post('Profiler.stop');
      profiler.disconnect();
      writeFileSync(message.path!, JSON.stringify(profile));
      process.send!({ type: 'profileStop' });
    } else if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ type: 'cpu', us: user + system });
    } else if (message.type === 'heap') {
      for (let i = 0; i < 3; i++) global.gc?.();
      process.send!({ type: 'heap', heapUsed: process.memoryUsage().heapUsed, connections: connections() });
    } else if (message.type === 'info') {
      process.send!({ type: 'info', ...(await info()) });
    } else if (message.type === 'stop') {
      await close();
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', port });
}
