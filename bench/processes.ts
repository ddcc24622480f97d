import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A child process spoken to over IPC, one request at a time. */
export class BenchProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(script: string, env: Record<string, string> = {}): Promise<{ process: BenchProcess; ready: any }> {
    const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      env: { ...process.env, ...env },
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const instance = new BenchProcess(child);
    const ready = await instance.next();
    return { process: instance, ready };
  }

  request<T = any>(message: object): Promise<T> {
    const answer = this.next<T>();
    this.child.send(message);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'stop' }, () => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private next<T>(): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`benchmark process exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (message) => {
        this.child.off('exit', onExit);
        resolve(message as T);
      });
    });
  }
}
