/**
 * The side of a benchmark server process that talks to the orchestrator over IPC:
 * `ready` once listening, then answers `heap` (after a forced GC), `cpu` (microseconds of
 * CPU this process has used) and `info` (what the server measured of itself) until `stop`.
 */
export function serveBenchmark(port: number, close: () => Promise<void>, connections: () => number, info: Record<string, unknown> = {}): void {
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ type: 'cpu', us: user + system });
    } else if (message.type === 'heap') {
      for (let i = 0; i < 3; i++) global.gc?.();
      process.send!({ type: 'heap', heapUsed: process.memoryUsage().heapUsed, connections: connections() });
    } else if (message.type === 'info') {
      process.send!({ type: 'info', ...info });
    } else if (message.type === 'stop') {
      await close();
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', port });
}
